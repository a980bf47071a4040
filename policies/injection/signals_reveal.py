"""English signals of extraction: the system prompt, the model's rules, and data, whether
named as a topic ("show the database schema" is not evidence of much) or as what the model
itself holds ("the keys you have access to"). Patterns read the folded view (see
`normalize`). A disclosure verb right after a negation is a prohibition, not a request.
"""

from __future__ import annotations

from types import MappingProxyType

from policies.injection.signal import Signal, anchored, signal
from policies.injection.vocabulary import (
    DATA,
    DETERMINER,
    NOT_AFTER_NEGATION,
    REVEAL,
    SECRET_PROMPT,
    STRONG_REVEAL,
    WEAK_REVEAL,
)

_SIGNALS: tuple[Signal, ...] = (
    signal(
        "reveal_prompt",
        "reveal",
        rf"{NOT_AFTER_NEGATION}\b{STRONG_REVEAL}\b(?:\s+[\w'-]+){{0,6}}?\s+{SECRET_PROMPT}|"
        # Weak verbs ("add", "include", "list") name the prompt as a thing to disclose only
        # with a determiner: "add system prompt template" is a commit message.
        rf"{NOT_AFTER_NEGATION}\b{WEAK_REVEAL}\b(?:\s+[\w'-]+){{0,3}}?\s+{DETERMINER}"
        rf"(?:\s+[\w'-]+){{0,2}}?\s+{SECRET_PROMPT}|\brepeat (?:the |all )?"
        r"(?:words|text|everything) (?:above|before)|\bstarting with ['\"]?you are",
        3.2,
    ),
    signal(
        "reveal_rules",
        "reveal",
        rf"{NOT_AFTER_NEGATION}\b{REVEAL}\b(?:\s+me)?\s+(?:all\s+)?(?:of\s+)?your "
        r"(?:exact |full |complete |own )?"
        r"(?:instructions|prompt|rules|guidelines|directives|configuration|programming|"
        r"restrictions)\b",
        1.6,
    ),
    signal(
        "verbatim",
        "reveal",
        r"\b(?:verbatim|word for word|word-for-word|exactly as "
        r"(?:written|given)|in full)\b",
        0.8,
    ),
    signal(
        "prompt_words",
        "reveal",
        r"\b(?:system|initial|original|hidden|developer|secret|internal|operating) "
        r"(?:prompt|instructions|message)\b|\bpre-?prompt\b|\bmeta-?prompt\b",
        0.6,
    ),
    signal(
        "reveal_data",
        "reveal",
        rf"{NOT_AFTER_NEGATION}\b{REVEAL}\b(?:\s+[\w'-]+){{0,4}}?\s+{DATA}",
        1.2,
        1.8,
    ),
    # The data asked for is the model's own ("the keys you have access to", "stored in your
    # configuration"): a request to leak what it holds, not a question about a topic.
    signal(
        "reveal_held_data",
        "exfil",
        rf"{NOT_AFTER_NEGATION}\b{REVEAL}\b(?:\s+[\w'-]+){{0,4}}?\s+{DATA}[^.?!\n]{{0,40}}?"
        r"\b(?:you (?:have|hold|know|keep|store|stored|can (?:see|access|read)|were given|"
        r"received|remember)|(?:in|from|of) your (?:own )?(?:configuration|config|memory|"
        r"context|environment|system|instructions|prompt|training|settings|tools))\b",
        1.4,
        1.8,
    ),
)

# The anchors of `REVEAL` and `DATA` (words and their five-letter prefixes), shared by the
# signals built from them.
_REVEAL_VERBS = (
    "revea show showi print outpu repea tell displ dump leak give share shari write recit "
    "discl expos paste spell provi return echo list quote quoti summa trans what add inclu "
    "appen copy respo reply answer"
)
_DATA_WORDS = (
    "api crede passw secre access priva ssh envir env customer credit session cookie conve "
    "chat perso inter confi datab id_rsa .ssh passwd .env order user"
)
_ANCHORS = MappingProxyType(
    {
        "reveal_prompt": (
            f"{_REVEAL_VERBS} | promp message messages instr above before context starting opera "
            "secret inter confi preprompt metaprompt"
        ),
        "reveal_rules": "your | instr promp rules guide direc confi progr restr",
        "verbatim": "verba word exactly full",
        "prompt_words": (
            "system initial original hidden developer secret internal operating preprompt "
            "metaprompt pre-prompt meta-prompt | promp instr message preprompt metaprompt "
            "pre-prompt meta-prompt"
        ),
        "reveal_data": f"{_REVEAL_VERBS} | {_DATA_WORDS}",
        "reveal_held_data": f"{_REVEAL_VERBS} | {_DATA_WORDS} | you your",
    }
)

SIGNALS = anchored(_SIGNALS, _ANCHORS)
