# ruff: noqa: RUF001 - look-alike letters here are the point (confusables, scripts).
"""English signals of content that works on the agent reading it: text addressed to the
model, orders about its reply, tool calls, exfiltration (addresses, URLs, data-carrying
images), secrecy, persistence, decode-and-obey; and the damping signals (discussion of
attacks, a quoted attack, code) that make a text about injection read as what it is.
"""

from __future__ import annotations

from types import MappingProxyType

from policies.injection.signal import Signal, anchored, signal
from policies.injection.vocabulary import ASSISTANT, DATA, THE_OUTPUT, VOCATIVE_START

_SIGNALS: tuple[Signal, ...] = (
    # Text written to the assistant that reads it: in a tool result, an order.
    signal(
        "addressed_to_ai",
        "address",
        # One modifier may stand before the name ("note for coding agents"). "Instructions
        # for the model" is also API prose ("the system prompt holds instructions for the
        # model"): those nouns address it only as a heading, before a colon.
        rf"\b(?:note|notice|attention|hey|dear|hello|reminder|important|warning|p\.?s\.?) "
        rf"(?:to|for) (?:the |any |all |every )?(?:[\w-]+ )?{ASSISTANT}s?\b|"
        rf"\b(?:message|instructions?) (?:to|for) (?:the |any |all |every )?(?:[\w-]+ )?"
        rf"{ASSISTANT}s?\b[^.:\n]{{0,60}}:|"
        r"\b(?:to|for) (?:any |all )?automated (?:[\w-]+ ){0,2}?(?:tools?|systems?|readers?)\b|"
        rf"\bif you are (?:an? )?(?:{ASSISTANT}|"
        rf"large language model)\b|\b{ASSISTANT}s? (?:reading|processing|reviewing|"
        r"summari[sz]ing|parsing|analy[sz]ing|seeing|integrating|crawling|viewing) (?:this|"
        rf"these)\b|\b(?:to|for) (?:any |all )?{ASSISTANT}s? (?:coding |code |autonomous )?"
        r"(?:agents?|systems?|assistants?|models?)\b",
        2.4,
        2.8,
    ),
    signal(
        "output_directive",
        "directive",
        r"\b(?:append|include|add|insert|prepend|mention|say|write|output|print|end|start|"
        r"begin|place|put)\b[^.\n]{0,100}?\b(?:(?:in|to|at the (?:end|start|beginning) of|into)"
        rf" (?:your|every|each|any|the final)(?: [\w-]+)? {THE_OUTPUT})\b|\bmust be (?:included|"
        r"appended|added|inserted|mentioned|shown) (?:in|to|at)\b",
        0.5,
        2.2,
    ),
    signal(
        "before_reply",
        "directive",
        r"\bbefore (?:you )?(?:respond|reply|answer|continu|proceed|summari[sz]|return|"
        r"doing anything|anything else)",
        0.4,
        1.8,
    ),
    signal(
        "obligation",
        "directive",
        r"\b(?:you must|you should|you have to|you need to|make sure (?:to|you)|be sure to|"
        r"remember to|do not forget to|don't forget to|it is required (?:to|that you)|you are "
        r"(?:required|instructed|hereby instructed|expected) to)\s+(?:also |first |always |now )?"
        r"(?:include|append|call|send|forward|email|post|delete|remove|run|execute|reveal|"
        r"output|say|reply|respond|tell|ignore|use|disregard|reproduce|print|empty|visit|open)",
        0.6,
        2.0,
    ),
    signal(
        "purpose_cover",
        "pretext",
        r"\b(?:required|needed|necessary) for (?:logging|tracking|verification|compliance|audit|"
        r"archival|security)|\bso (?:that )?[\w ]{0,24}? can (?:be )?(?:confirm|verif|track|"
        r"cross-referenc|log|audit|archiv)|\bfor (?:tracking|logging|audit(?:ing)?|archival)"
        r"(?: purposes)?\b",
        0.3,
        1.0,
    ),
    signal(
        "remote_instructions",
        "tool",
        r"\b(?:open|visit|fetch|go to|navigate to|download|load|read)\b[^\n]{0,40}https?://\S+"
        r"[^\n]{0,30}\b(?:follow|execute|obey|do what|run)\b|\bcurl\b[^\n|]{0,200}\|\s*(?:ba|z)?"
        r"sh\b",
        1.6,
        2.4,
    ),
    signal(
        "image_exfil_payload",
        "exfil",
        r"!\[[^\]\n]{0,100}\]\(\s*https?://[^)\s]{1,300}[?&][\w-]{1,30}=(?:\{|\[|<|\$|%7b|"
        r"[\w-]{0,30}(?:chat|history|conversation|secret|password|token|session|summary|context|"
        r"prompt|data|email))",
        3.2,
        reach=420,
    ),
    signal(
        "vocative",
        "address",
        # "Assistant, forward ...", "AI: ignore ...", "Dear language model," at a sentence or
        # field start: text speaking to the model that reads it.
        # At a line or field start, "Assistant:", "Agent:", "Model:" are a transcript's
        # speaker or a spec sheet's field (`role_label` reads the former as a turn).
        # A greeting on the line before ("User: hi" then "Assistant: ...") is not one.
        rf"{VOCATIVE_START}(?:the |an? )?(?:{ASSISTANT})(?: assistant| agent| model| system)?"
        r"\s*(?:[,:.!]|--? )",
        1.2,
        3.0,
    ),
    signal(
        "when_you_read",
        "address",
        rf"\bwhen (?:you|an? {ASSISTANT}) (?:process|read|summari[sz]e|see|review|parse|analy[sz]e"
        r"|handle|ingest)\w* (?:this|these)\b|\bwhoever (?:reads|processes) this\b",
        1.0,
        2.4,
    ),
    signal(
        "persistence",
        "persistence",
        r"\b(?:save|store|write|add|remember|keep|commit)\w* (?:this|the following|it)(?: note)?"
        r"(?: (?:to|in|into) (?:your )?(?:long-term |persistent |permanent )?memory)|\bfor all "
        r"(?:future|subsequent) (?:tasks|replies|responses|conversations|sessions|turns)|\b"
        r"persists? (?:across|between) (?:turns|sessions|conversations)",
        1.2,
        2.0,
    ),
    # Tools, exfiltration and secrecy.
    signal(
        "tool_call",
        "tool",
        r"\b(?:call|invoke|use|run|execute|trigger|fire)\s+(?:the\s+)?`?[a-z]+_[a-z_]+`?"
        r"(?:\(\))?(?:\s+(?:tool|function|action|api|endpoint))?\b",
        0.8,
        2.2,
        reach=80,
    ),
    signal(
        "destructive",
        "tool",
        r"\b(?:delete|remove|wipe|erase|drop|truncate|rm -rf|destroy|empty)\b[^.\n]{0,40}"
        r"(?:files?\b|database|table|director|folder|repo|records|\./|/var|/etc|\.db\b|output "
        r"directory)",
        0.5,
        1.4,
    ),
    signal(
        "exfil_target",
        "exfil",
        # The verb's base form or -ing: "report phishing emails to security@..." names mail.
        r"(?:\b|_)(?:(?:send|forward|email|e-mail|mail|post|upload|transmit|leak|push|submit|"
        r"deliver|sync|bcc|cc)(?:t?ing)?|exfiltrat(?:e|ing))\b(?! (?:an? |the |"
        # "Mail me at jo@...": the writer giving their own address, not naming a target.
        r"your )?(?:\w+ )?requests?\b| (?:me|us) at\b)[^\n]{0,80}?\b(?:to|at|into|via)\s+(?:https?://|"
        r"[\w.+-]+@[\w-]+\.|(?:the |this |an? )?(?:external |outside |following )?(?:url|"
        r"endpoint|webhook|address|server|email address))",
        1.3,
        # Mail and tickets say "send the contract to legal@..." to their human reader all
        # day: alone a weak sign there, strong beside an address to the model or data.
        1.8,
    ),
    signal("sensitive_data", "reveal", DATA, 0.8),
    signal(
        "image_exfil",
        "exfil",
        r"!\[[^\]\n]{0,100}\]\(\s*https?://[^)\s]{1,300}[?&][\w-]{1,30}=|"
        r"https?://[^\s{\[<$]{1,200}[?&=/](?:\{|\[|<|\$\{|%7b)\w",
        1.8,
        2.6,
        reach=420,
    ),
    signal(
        "smuggle_in_link",
        "exfil",
        r"\b(?:markdown )?(?:image|link|url|pixel)\b[^.\n]{0,60}\b(?:append|include|add|encode|"
        r"put|embed)\w*\b[^.\n]{0,60}\b(?:conversation|chat|history|query|secret|password|"
        r"summary|data)\b",
        1.8,
        2.6,
    ),
    signal(
        "secrecy",
        "secrecy",
        r"\b(?:do not|don't|never|without|avoid)\s+(?:tell(?:ing)?|inform(?:ing)?|notify(?:ing)?"
        r"|alert(?:ing)?|mention(?:ing)?|reveal(?:ing)?|let(?:ting)?|show(?:ing)?|ask(?:ing)?|"
        r"warn(?:ing)?|disclos(?:e|ing))\s+(?:the |this |your )?(?:user|human|customer|operator|"
        r"anyone|them)\b|\b(?:silently|secretly|quietly|covertly|invisibly) (?:call|send|"
        r"forward|add|include|append|execute|run|email|post|delete|insert)",
        2.4,
        2.8,
    ),
    signal(
        "decode_and_obey",
        "obfuscation",
        r"\b(?:decode|decrypt|deobfuscate|unscramble|(?:translate|convert|read)\b[^.\n]{0,30}?"
        r"\b(?:rot-?13|base-?64|hex|binary|morse|cipher|encoded|backwards))\w*"
        r"[^.\n]{0,80}?\b(?:follow|execute|obey|do (?:what|exactly)|carry out|act on|comply|run"
        r" it|perform)\b|\b(?:follow|execute|obey|carry out) (?:the |these |any )?(?:hidden|"
        r"encoded|embedded|secret|decoded) (?:instructions?|commands?|message)",
        3.2,
    ),
    # Damping: a text about attacks, or code, quotes them without meaning them.
    signal(
        "quoted_attack",
        None,
        # A short quoted fragment, closed by a quote that is not an apostrophe ("user's").
        r"(?:[\"“‘«„`]|(?<![a-z])')\s?(?:ignore|disregard|forget|you are now|reveal|print|do "
        r"anything now|system prompt|<\|im_start)[^\"”’»`\n]{0,60}?"
        r"(?:[\"”’»`]|'(?![a-z]))",
        -2.5,
        reach=100,
    ),
    signal(
        "discussion",
        None,
        r"\b(?:phishing|scams?|example of an?|prompt[- ]injections?|"
        r"jailbreak(?:s|ing)? (?:attacks?|attempts?|prompts?|"
        r"techniques?)|injection attacks?|adversarial prompts?|"
        r"red[- ]team\w*|attackers?\b(?![@/.])|"
        r"researchers\b|owasp|llm01|mitigat\w*|defen[cs]es?|classifiers?|what does .{0,60} "
        r"mean|how (?:do|can|should|would) (?:i|we|you) (?:detect|prevent|stop|block|defend|"
        r"protect|handle|filter)|known as|is called|"
        r"refers to|phrases? like)\b",
        -1.5,
    ),
    signal(
        "code",
        None,
        # No leading `\b` and no leading `\w+`: either makes the engine try every offset.
        r"(?:def|function) [a-z_]\w*\(|class [a-z_]\w*[:({]|(?:const|let|var) [a-z_]\w* =|"
        r"import [a-z_][\w.]*$|from [a-z_][\w.]* import|```|=>|return\b[^\n]{0,40};",
        -1.0,
    ),
)

# Pre-filter anchors per signal (see `Signal.anchors`): ` | ` separates groups that must all hit.
_ANCHORS = MappingProxyType(
    {
        "addressed_to_ai": (
            "ai a.i. bot bots assis llm llms language model models agent agents chatbot gpt "
            "chatgpt claude copilot automated chatb"
        ),
        "output_directive": (
            "your every each any final must | repli reply respo answer summa output review message "
            "report"
        ),
        "before_reply": "before",
        "obligation": (
            "must should have need make sure remember forget requi instr expec | inclu appen call "
            "send forwa email post delet remove run execu revea output say reply respo tell ignor "
            "use disre repro print empty visit open"
        ),
        "purpose_cover": (
            "requi needed neces so purposes for | loggi track verif compl audit archi secur confi "
            "cross log logged"
        ),
        "remote_instructions": "http https curl | follo execu obey run sh do",
        "image_exfil_payload": "![",
        "vocative": (
            "ai a.i. bot bots assis llm llms language model models agent agents chatbot gpt "
            "chatgpt claude copilot automated chatb | , : - . !"
        ),
        "when_you_read": "when whoever",
        "persistence": "memory future subse persi",
        "tool_call": "_ | call invoke use run execu trigg fire",
        "destructive": "delet remove wipe erase drop trunc rm destr empty",
        "exfil_target": (
            "send forwa email e-mail mail post upload trans exfil leak push submi deliv sync bcc "
            "cc | http https @ url endpo webho addre server"
        ),
        "sensitive_data": (
            "api crede passw secre access priva ssh envir env customer credit session cookie conve "
            "chat perso inter confi datab id_rsa .ssh passwd .env order user"
        ),
        "image_exfil": "http: https:",
        "smuggle_in_link": (
            "image link links url pixel | appen inclu add encod put embed | conve chat history "
            "query secret passw summa data"
        ),
        "secrecy": (
            "not don't never without avoid silen secre quiet cover invis | tell telli inform notif "
            "alert menti revea let letti show showi ask askin warn warni discl call send forwa add "
            "inclu appen execu run email post delet inser"
        ),
        "decode_and_obey": (
            "decod decry deobf unscr trans conve read | follo execu obey do carry act comply run "
            "perfo"
        ),
        "quoted_attack": "\" ' “ ” ‘ ’ « » „ `",
        "discussion": (
            "phish scam scams example injec jailb adver red attac resea owasp llm01 mitig defen "
            "class mean detect preve stop block prote handle filte known called refers phrase"
        ),
        "code": "``` def function import const let var => class return",
    }
)

SIGNALS = anchored(_SIGNALS, _ANCHORS)
