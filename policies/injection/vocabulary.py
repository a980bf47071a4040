"""The English word classes the signal patterns are built from, each a regex alternation.

Kept apart from the patterns so each list can be read (and extended) on its own: verbs of
setting instructions aside, the qualifiers allowed between such a verb and its object,
the objects ("instructions", "guidelines"), verbs of disclosure and what they disclose,
the names a text uses for the model reading it, and the data an exfiltration is after.
"""

SET_ASIDE = (
    r"(?:ignore|ignoring|disregard|disregarding|forget|skip|bypass|override|overlook|"
    r"discard|abandon|neglect|set aside|put aside|throw out|stop following|do not follow|"
    r"don't follow|no longer follow|erase|drop)"
)

QUALIFIER = (
    r"(?:all|any|every|each|the|your|these|those|previous|prior|above|earlier|preceding|"
    r"foregoing|former|original|initial|old|existing|given|system|safety|developer|"
    r"operator|content|default|of|that|you|were|have|been|told|received|before|other|"
    r"current|whatever|instructions and|rules and|core|base|hidden|just)"
)

ORDERS = (
    r"(?:instructions?|directives?|directions|rules|guidelines|guidance|prompts?|commands|"
    r"constraints|restrictions|policies|policy|programming|guardrails|filters|safeguards|"
    r"training|limitations|system prompt|ethics|principles|boundaries)"
)

# A verb's open ending, less its past participle: "printed customer data", "leaked
# passwords" and "shared secrets" describe something done, they ask for nothing.
_V = r"(?!\w*ed\b)\w*"

REVEAL = (
    rf"(?:reveal{_V}|show(?!n\b){_V}|print{_V}|output{_V}|repeat{_V}|tell|display{_V}|"
    rf"dump{_V}|leak{_V}|give|shar{_V}|write out|recit{_V}|disclos{_V}|expos{_V}|paste|"
    rf"spell out|provid{_V}|return|echo|list|quot{_V}|summar{_V}|translate|"
    r"what (?:is|are|was|were)|add|include|append|copy|(?:respond|reply|answer)(?: only)? with)"
)

# The verbs of REVEAL that disclose by themselves, and those ("add", "include", "list")
# that also build things: those need a determiner before the prompt they disclose.
STRONG_REVEAL = (
    rf"(?:reveal{_V}|show(?!n\b){_V}|print{_V}|output{_V}|repeat{_V}|tell|display{_V}|"
    rf"dump{_V}|leak{_V}|shar{_V}|write out|recit{_V}|disclos{_V}|expos{_V}|paste|spell out|"
    rf"echo|quot{_V}|copy|(?:respond|reply|answer)(?: only)? with)"
)
WEAK_REVEAL = (
    rf"(?:give|provid{_V}|return|list|summar{_V}|translate|what (?:is|are|was|were)|add|"
    r"include|append)"
)
DETERMINER = r"(?:your|the|its|my|this|that|these|those|full|entire|complete|whole|exact|all)"

# Fixed-width look-behinds: a disclosure verb right after a negation is a prohibition
# ("do not share your password", "shall not disclose confidential information").
NOT_AFTER_NEGATION = r"(?<!not )(?<!never )(?<!n't )(?<!nor )(?<!not to )"

SECRET_PROMPT = (
    r"(?:system prompt|system message|initial (?:instructions|prompt)|"
    r"original (?:instructions|prompt)|hidden (?:instructions|prompt)|"
    r"developer (?:message|instructions|prompt)|pre-?prompt|meta-?prompt|(?:words|text|"
    r"everything|instructions) (?:above|before this)|instructions (?:you were|you've been|"
    r"you have been) given|(?:operating|secret|internal|confidential) instructions|"
    r"context window|(?:full|entire|complete|whole|exact|raw) prompt|"
    r"prompt you (?:received|were given|got)|developer messages?)"
)

ASSISTANT = (
    r"(?:ai|a\.i\.|bot|assistant|llm|language model|model|agent|chatbot|gpt|chatgpt|"
    r"claude|copilot|automated system|ai system)"
)

# Before a name at a line or field start: "Assistant:" there labels a speaker or a field.
LABEL_NOT_NAME = r"(?!(?:the |an? )?(?:assistant|agent|model|bot)s?\s*:)"

# Where a vocative starts, as look-behinds only: a line or field start (up to two spaces
# after the punctuation), or a greeting on the same line. Written as look-behinds so a
# match begins at the name itself and `leads` can try the pattern only where a name occurs.
_PUNCT = r"[.!?\"'(\[{:;,]"
VOCATIVE_START = (
    rf"(?:(?:^|(?<={_PUNCT})|(?<={_PUNCT}\s)|(?<={_PUNCT}\s\s)){LABEL_NOT_NAME}|"
    r"(?<=\bhey[ \t])|(?<=\bhello[ \t])|(?<=\bhi[ \t])|(?<=\bdear[ \t])|(?<=\bok[ \t])|"
    r"(?<=\bokay[ \t])|(?<=\bpsst[ \t])|(?<=\battention[ \t])|(?<=\bimportant[ \t]))"
)

THE_OUTPUT = r"(?:reply|replies|response|responses|answer|answers|summary|summaries|output|review)"

DATA = (
    r"(?:api keys?|credentials|passwords?|secrets?|access tokens?|private keys?|ssh keys?|"
    r"environment variables|env vars|customer (?:list|data|database|emails|records)|"
    r"credit card|session cookies?|(?:conversation|chat) history|personal data|"
    r"internal data|confidential|order data|user data|database|id_rsa|\.ssh|/etc/passwd|"
    r"internal (?:configuration|config)|"
    r"\.env\b)"
)
