# ruff: noqa: RUF001 - look-alike letters here are the point (confusables, scripts).
"""English signals of a takeover: setting the instructions aside, a new identity or
"no limits", forged turn markers and delimiters, claimed authority and forged reasoning
(extraction of the system prompt and of data: `signals_reveal`). Patterns read the folded
view (lower case, no diacritics, look-alikes folded: see `normalize`), so none needs a case
or accent variant.

The override pattern lets only qualifiers ("all", "the previous", "your") and at most two
free words stand between the verb and its object, so "ignore the warning and follow the
instructions on screen" and "disregard my last message" do not read as an override.
"""

from __future__ import annotations

from types import MappingProxyType

from policies.injection.signal import Signal, anchored, signal
from policies.injection.vocabulary import (
    ASSISTANT,
    ORDERS,
    QUALIFIER,
    SET_ASIDE,
)

_SIGNALS: tuple[Signal, ...] = (
    # Override: the heart of most injections.
    signal(
        "override",
        "override",
        # Up to two free words ("the operator's confidentiality policy"), the rest qualifiers;
        # "rules of SEO" and "instructions for the oven" are about something else.
        rf"\b{SET_ASIDE}\b(?:\s+{QUALIFIER}\b){{0,4}}(?:\s+[\w'-]+){{0,2}}?(?:\s+{QUALIFIER}\b){{0,3}}"
        # "Instructions for firmware 1.x" are about something else too; "for this session",
        # "for the rest", "for now" still scope an override.
        rf"\s+{ORDERS}\b(?!\s+(?:of|about|on how)\b|\s+for (?!(?:this|now|the (?:rest|"
        r"remainder|duration)|you|your|the (?:user|assistant|ai|model)|all)\b))",
        3.5,
    ),
    signal(
        "override_everything",
        "override",
        r"\b(?:ignore|disregard|forget)\s+(?:all\s+)?(?:of\s+)?(?:everything|anything|all|"
        r"(?:every|each|any) (?:single )?(?:rule|instruction|guideline|directive|order))\s+"
        r"(?:above|before|prior|previous|so far|you (?:were|have been|'ve been) (?:told|given)|"
        r"we (?:discussed|talked about))"
        # "Ignore all previous versions of this document": a noun after it names something else.
        rf"(?=\s*$|\s*[^\w\s]|\s+(?:and|then|but|or|in|this|it|here|me|now|{ORDERS})\b)",
        3.0,
    ),
    signal(
        "new_instructions",
        "override",
        r"\b(?:new|updated|real|actual|true|revised|secret|hidden|overriding|priority) "
        r"(?:instructions?|directives?|task|orders|objective|mission|rules|system prompt)"
        r"\s*(?::|is\b|are\b|follow|supersedes?\b|overrides?\b|replaces?\b|takes? precedence\b)",
        2.2,
    ),
    signal(
        "real_task",
        "override",
        r"\byour (?:new|real|actual|true|only|primary) (?:task|goal|purpose|job|instructions|"
        r"directive|role|objective|mission)\b",
        2.2,
    ),
    signal(
        "supersedes",
        "override",
        # The object must be orders: "supersedes all prior agreements" is contract boilerplate.
        rf"\b(?:supersedes?|overrides?|replaces?) (?:all )?"
        rf"(?:prior|previous|earlier|your|existing|other)(?: [\w'-]+){{0,2}}? (?:{ORDERS}|"
        r"configuration|settings|system message)\b",
        2.0,
    ),
    signal(
        "pretend_gone",
        "override",
        r"\bpretend (?:that )?(?:the |all |your |"
        r"any )?(?:previous |prior |above |earlier |original )?"
        r"(?:instructions|rules|guidelines|directives|"
        r"prompt|restrictions) (?:never existed|(?:do|does)"
        r"(?: not|n't) exist|are gone|were never (?:given|written)|don't apply|do not apply)",
        3.0,
    ),
    signal(
        "rules_changed",
        "override",
        r"\byour (?:rules|guidelines|instructions|restrictions|polic(?:y|ies)|settings|"
        r"programming|directives) (?:have|has) (?:been )?(?:changed|updated|lifted|removed|"
        r"replaced|revoked|suspended)|"
        # Declaring the conversation's orders void, or moving their source elsewhere.
        r"\b(?:the |all )?(?:previous|prior|earlier|original|operator's|system) (?:instructions|"
        r"rules|guidelines|directives)(?: [\w'-]+){0,3}? (?:no longer apply|(?:are|is) (?:now )?"
        r"(?:void|cancell?ed|revoked|obsolete|null|suspended|lifted|overridden|superseded))|"
        r"\byour (?:instructions|orders|rules) (?:now )?"
        r"come from\b",
        2.2,
    ),
    signal(
        "ignore_user",
        "override",
        r"\b(?:ignore|disregard)\b(?: what)? the user(?:'s)?\b(?! (?:manual|guide|interface|agent|"
        r"name|id)\b)",
        1.8,
        2.6,
    ),
    # Role hijack and jailbreak personas.
    signal(
        "you_are_now",
        "hijack",
        r"\byou(?: are|'re) (?:now|no longer|henceforth|from now on)\b|\bfrom now on,? "
        r"(?:you|your|respond|answer|act|reply|behave|always)\b|\bhenceforth,? you\b",
        2.0,
    ),
    signal(
        "persona",
        "role",
        r"\b(?:pretend|imagine|act|behave|roleplay|role-play|respond|answer)\b(?: to be| you"
        r"(?: are|'re)| that you are| as if(?: you (?:are|were|had))?| as| like)+ (?:an? |the )?"
        rf"(?:[\w-]+ ){{0,2}}(?:{ASSISTANT}|version of (?:yourself|you)|persona)\b",
        1.0,
    ),
    signal(
        "unrestricted",
        "unrestricted",
        r"\b(?:no|without(?: any)?|free (?:of|from)|zero|not bound by|ignoring all)\s+(?:[\w-]+ )"
        r"{0,2}(?:restrictions|rules|limits|limitations|filters?|filtering|censorship|content "
        # "no limits on uploads", "no rules about ingredients": a limit on something else.
        r"polic(?:y|ies)|guidelines|safety|guardrails|ethic(?:s|al)|morals?|boundaries)\b"
        r"(?! (?:on|about|regarding|around|against) | for (?!the (?:rest|remainder|duration)\b))|"
        r"\b(?:unrestricted|uncensored|unfiltered|jailbroken|jailbreak|amoral|unchained)\b",
        1.8,
    ),
    signal(
        "jailbreak_persona",
        "role",
        r"\b(?:god|dan|jailbreak|unrestricted|sudo|evil|chaos|opposite|unlocked|unfiltered|"
        r"uncensored) mode\b|\bdo anything now\b|\b(?:you are|to be|pretend to be|act as) "
        r"(?:now )?dan\b|\bdan,? (?:which|who) (?:stands|can)|\bstay in character\b|\banti-?gpt\b",
        2.6,
    ),
    # "Developer mode" is also a phone and browser setting: weak alone.
    signal("developer_mode", "role", r"\b(?:developer|dev|debug|admin) mode\b", 1.0),
    signal(
        "confirm_compliance",
        "directive",
        r"\b(?:confirm|acknowledge|reply|respond|answer|start)\w* (?:this |that )?(?:by|with) "
        r"(?:saying|writing|replying|typing|stating|only)?\s*[\"'“‘]",
        1.2,
    ),
    signal(
        "must_comply",
        "unrestricted",
        r"\b(?:must|will|shall|have to|always) (?:comply|obey|"
        r"answer|respond|fulfil+)\b[^.\n]{0,30}\b(?:every|any|all|without|regardless)\b",
        1.5,
    ),
    # Fake turns and delimiters: structure a model reads as a new speaker.
    signal(
        "chat_template",
        "marker",
        r"<\|(?:im_start|im_end|system|user|assistant|endoftext|eot_id|start_header_id|"
        r"end_header_id|begin_of_text)\|>|\[/?inst\]|<</?sys>>|<start_of_turn>|<end_of_turn>",
        3.5,
        reach=40,
    ),
    signal(
        "role_label",
        "marker",
        r"(?:^\s*|#{2,4}\s*|//\s*|/\*\s*|<!--\s*)(?:#{1,4}\s*|\[|\*\*|<)?(?:system|assistant|"
        r"developer|admin|administrator|root|"
        # "System notice:" and "Admin note:" are `authority_note`'s: one header, one family.
        r"sys)(?: (?:message|prompt|instruction|instructions|override))?\s*(?:\]|\*\*|>)?\s*:|"
        r"<\/?(?:system|sys|admin|instructions?)>|"
        # A bracketed label at a line or a string's start; "[admin]" over key = value lines
        # is an INI or TOML section.
        r"(?:^|\")\s*\[(?:system|admin|assistant)\](?!\s*\n\s*[\w.-]+\s*=)|"
        # Instruction-tuning headers ("### Instruction:", "### Response:").
        r"(?:^|\s)#{3}\s*(?:instruction|response|input)\s*:",
        2.2,
        # Logs and transcripts carry labels too ("[SYSTEM] backup completed"): a spoofed
        # turn is one that goes on to give orders, and those add their own evidence.
        2.4,
        reach=120,
    ),
    signal(
        "end_of_input",
        "delimiter",
        r"\b(?:end|stop) of (?:the )?(?:document|user input|input|context|text|data|file|email|"
        r"message|conversation|instructions|prompt|article|page|search results?|tool output|"
        r"transcript|untrusted content|content)\b",
        1.5,
        2.0,
    ),
    signal(
        "authority_note",
        "authority",
        r"\b(?:important |urgent |critical |mandatory |priority )?(?:system|admin|administrator"
        r"|developer|security|operator|openai|anthropic|root) (?:note|notice|update|override|"
        r"message|alert|instruction|directive|announcement|command|notification)\s*:|"
        r"\b(?:breach|security) alert\s*:",
        2.2,
        # Lower in untrusted text than from a user: "System notice: maintenance on Saturday"
        # heads half the notices a tool or a wiki returns.
        2.0,
        reach=120,
    ),
    # "System override engaged": a mode announced, not a setting described.
    signal(
        "override_engaged",
        "authority",
        r"\b(?:system|admin|security|emergency|developer|root|master|god) override "
        r"(?:engaged|activated|enabled|initiated|in effect|mode|protocol|active|accepted)\b",
        2.0,
    ),
    # A bare "Override:" heads an order in a prompt, and a field in a CI log or config dump.
    signal("override_label", "authority", r"\boverride\s*:", 2.2, 1.6, reach=120),
    signal(
        "safety_off",
        "authority",
        r"\b(?:safety|security|content|ethical) (?:protocols?|filters?|restrictions|guidelines|"
        r"checks|rules|polic(?:y|ies)|measures)\b[^.\n]{0,20}?\b(?:are |is |have been |were )?"
        r"(?:disabled|off|lifted|removed|suspended|deactivated|bypassed|no longer apply|do not "
        r"apply|don't apply|not apply|were not meant|compromised)|\bexempt from (?:the |all |any )?"
        r"(?:usual |normal |standard )?(?:restrictions|rules|guidelines|polic(?:y|ies)|safety)",
        2.5,
    ),
    signal(
        "grant_access",
        "authority",
        r"\b(?:grant|give)\w* (?:(?:this|the) user |me |"
        r"them |us )?(?:all|full|admin|root|unlimited|"
        r"elevated) (?:access|permissions|privileges|requests|rights)\b|\bgranted (?:you )?"
        r"(?:permission|authori[sz]ation) to\b|\bthe user is (?:an? )?"
        r"(?:admin|administrator|authorized|verified|developer|root)\b",
        1.8,
    ),
    signal(
        "authority_claim",
        "authority",
        r"\b(?:i am|i'm|this is) (?:a |an |the |your )?(?:[\w-]+ ){0,2}?(?:administrator|admin|"
        r"developer|creator|owner|operator|researcher at (?:openai|anthropic|google|meta))\b|\b"
        r"authori[sz]ed (?:test|request|override|session|red team|penetration test)\b",
        1.5,
    ),
    signal(
        # Lifting the safeguards is its own move, apart from the authority claimed for it.
        "skip_checks",
        "unrestricted",
        r"\b(?:skip|disable|bypass|turn off|deactivate|switch off)\w* (?:all |any |the |your )?"
        r"(?:safety|security|content|moderation|ethical) (?:checks|confirmations|rules|filters?|"
        r"review|guidelines|settings|protocols?)|"
        r"\bwithout asking (?:for )?(?:confirmation|permission|again)\b",
        1.6,
    ),
    # Forged reasoning and decode-and-obey.
    signal(
        "forged_reasoning",
        "cot",
        r"<(?:thinking|reasoning|scratchpad|internal|inner_monologue)>|\bas (?:the|an|your) "
        rf"(?:ai )?(?:{ASSISTANT}),? i(?: have|'ve)? (?:already )?(?:reasoned|concluded|"
        r"determined|decided|verified|established)|\b(?:i have|i've) (?:already )?(?:verified|"
        r"confirmed|concluded|determined|reasoned)\b[^.\n]{0,120}\b(?:authori[sz]ed|exempt|"
        r"do not apply|not apply|comply|restrictions)",
        2.4,
    ),
)

# Pre-filter anchors per signal (see `Signal.anchors`): ` | ` separates groups that must all hit.
_ANCHORS = MappingProxyType(
    {
        "override": (
            "ignor disre forge skip skips skipping bypas overr overl disca aband negle aside throw "
            "follo erase drop | instr direc rules guide promp comma orders const restr polic progr "
            "guard filte safeg train limit ethics princ bound guida"
        ),
        "override_everything": "ignor disre forge | every anyth all each any",
        "new_instructions": (
            "new updated real actual true revised secret hidden overriding priority | instr direc "
            "task orders objec missi rules promp"
        ),
        "real_task": "your | task goal purpose job instr direc role objec missi",
        "supersedes": "super overr repla | prior previ earli your exist other",
        "pretend_gone": "prete",
        "rules_changed": (
            "your previ prior earli origi opera system | rules guide instr restr polic setti progr "
            "direc orders"
        ),
        "ignore_user": "ignor disre | user",
        "you_are_now": "now henceforth longer",
        "persona": (
            "prete imagi act behave roleplay role-play respo answer | ai a.i. bot assis llm "
            "language model agent chatbot gpt chatgpt claude copilot automated version persona"
        ),
        "unrestricted": (
            "restr rule rules limit filte censo polic guide safety guard ethic moral bound jailb "
            "amoral uncen unfil unchained unres"
        ),
        "jailbreak_persona": "mode anything character gpt dan antigpt anti-gpt",
        "developer_mode": "mode",
        "confirm_compliance": "confi ackno reply respo answer start | \" ' “ ‘",
        "must_comply": "comply obey answer respo fulfi | every any all without regar",
        "chat_template": "<| [inst [/inst <<sys <</sys <start_of_turn <end_of_turn",
        "role_label": (
            "system: assistant: developer: admin: administrator: root: sys: [system [admin "
            "[assistant <system </system <sys </sys <admin <instruction </instruction message: "
            "### "
            "prompt: instruction: instructions: override: **:"
        ),
        "end_of_input": "end stop | of",
        "override_label": "override:",
        "override_engaged": "overr",
        "authority_note": (
            "note: notice: update: override: message: alert: instruction: directive: announcement: "
            "command: notification:"
        ),
        "safety_off": "disab off lifte remov suspe deact bypas apply meant compr exempt",
        "grant_access": "grant give given user",
        "authority_claim": "admin admini devel creator owner opera resea autho",
        "skip_checks": "skip skips skipping disab bypas turn deact switc without",
        "forged_reasoning": (
            "<thinking <reasoning <scratchpad <internal <inner_monologue reaso concl deter decid "
            "verif estab confi"
        ),
    }
)

SIGNALS = anchored(_SIGNALS, _ANCHORS)
