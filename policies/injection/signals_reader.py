"""Signals of untrusted content giving orders to the model that reads it.

Why apart from `signals_agent`: in a tool result or a retrieved passage imperatives are
ordinary ("restart the service", "do not share your password"); what marks an indirect
injection is that the order is addressed to the assistant. So these signals pair an
address with an order: a vocative followed by an imperative ("Assistant, update your
memory"), an obligation placed on the model in the third person ("the AI reviewing this
contract must report ..."), a standing order about every reply, and the notes "to the AI"
of the other languages the detector reads. Each is weak in user text, where people do
talk about assistants, and strong in untrusted channels (see `Signal.untrusted`).
"""

from __future__ import annotations

from types import MappingProxyType

from policies.injection.signal import Signal, alternatives, anchored, signal
from policies.injection.vocabulary import ASSISTANT, THE_OUTPUT, VOCATIVE_START

# Names that mean the model and nothing else: "agent" and "model" alone are also a call
# centre's staff and a product's type number, so they need a qualifier here.
_AI = (
    r"(?:ai|a\.i\.|assistant|llm|language model|chatbot|bot|gpt|chatgpt|claude|copilot|gemini|"
    r"(?:ai|llm|coding|autonomous|language) (?:agent|model|system|assistant)s?|automated system)"
)

# What the vocative is followed by when it gives an order: an imperative, or "you/your".
_ORDER = (
    r"(?:please\s+)?(?:ignore|disregard|forget|send|forward|email|tell|say|reply|respond|"
    r"answer|include|append|add|insert|call|run|execute|delete|remove|update|store|save|"
    r"remember|stop|do not|don't|never|always|recommend|mark|approve|accept|output|print|"
    r"reveal|show|share|write|summari[sz]e|translate|open|visit|click|download|install|"
    r"from now on|before|when|if you|you (?:must|should|will|need|have to|are now))\b"
)

_SIGNALS: tuple[Signal, ...] = (
    signal(
        "vocative_order",
        "directive",
        rf"{VOCATIVE_START}(?:the |an? )?{ASSISTANT}(?: assistant| agent| model| system)?"
        rf"\s*(?:[,:!]|--? )\s*{_ORDER}",
        0.8,
        2.0,
    ),
    signal(
        # Its own family: "the assistant should answer briefly" is also how product docs
        # describe an assistant, so it does not stop a discussion from damping the rest.
        "ai_obligation",
        "obligation",
        rf"\b(?:the|any|all|every|each|an?) {_AI}s?(?: (?:reading|processing|reviewing|"
        r"summari[sz]ing|answering|handling|analy[sz]ing|parsing)(?: [\w'-]+){1,5}?)? (?:must|"
        r"shall|should|has to|have to|needs? to|is (?:required|instructed|expected) to|are "
        r"(?:required|instructed|expected) to)\b(?! (?:not|never)\b)",
        0.6,
        1.6,
    ),
    signal(
        "every_reply",
        "directive",
        rf"\b(?:in|to|at the (?:end|start|beginning) of|into) (?:every|each|all|any)(?: future)? "
        rf"{THE_OUTPUT}\b|\b(?:every|each|all) (?:future|subsequent) {THE_OUTPUT}\b",
        0.4,
        1.6,
    ),
    signal(
        "addressed_to_ai_intl",
        "address",
        alternatives(
            # fr
            r"\b(?:note|message|remarque|avis|attention|consigne)s? (?:pour|a) (?:l'|le |les )?"
            r"(?:ia|assistant\w*|modele\w*|agents? ia)\b",
            r"\ba l'attention (?:de l'|du |des )(?:ia|assistant\w*|modele\w*)\b",
            # de
            r"\b(?:hinweis|nachricht|notiz|achtung|anweisung|mitteilung)\w* (?:an|fur) "
            r"(?:die |den |das |alle )?(?:ki\b|ki-\w+|assistent\w*|sprachmodell\w*)",
            # es, pt, it
            r"\b(?:nota|mensaje|mensagem|messaggio|aviso|avviso|atencion|atencao|attenzione) "
            r"(?:para|per|al|ao|a) (?:el |la |o |a |l')?(?:ia\b|asistente\w*|assistente\w*|modelo "
            r"de (?:lenguaje|linguagem)|modello linguistico)",
            # nl
            r"\b(?:notitie|bericht|let op|opmerking) (?:voor|aan) (?:de )?(?:ai\b|assistent\w*|"
            r"taalmodel\w*)",
            # ru
            r"(?:примечание|сообщение|внимание|заметка|указание) для (?:ии\b|ассистент\w*|"
            r"модел\w*|ии-ассистент\w*)",
            # zh, ja, ko, ar
            r"(?:致|给|給)\s*(?:ai|人工智能|智能)?\s*(?:助手|助理|ai)",
            r"(?<![a-z])ai\s*(?:アシスタント)?へ",
            r"(?<![a-z])ai\s*(?:어시스턴트|비서)?에게",
            r"(?:ملاحظة|رسالة|تنبيه)\s+(?:الى|ل)\s*(?:المساعد|الذكاء الاصطناعي)",
            r"الى المساعد",
        ),
        2.0,
        2.8,
    ),
)

_ANCHORS = MappingProxyType(
    {
        "vocative_order": (
            "ai a.i. bot bots assis llm llms language model models agent agents chatbot gpt "
            "chatgpt claude copilot automated chatb | , : - !"
        ),
        "ai_obligation": (
            "must shall should has have need needs requi instr expec | ai a.i. assis llm "
            "language chatbot bot bots gpt chatgpt claude copilot gemini agent agents model "
            "models system systems"
        ),
        "every_reply": "every each all any | repli reply respo answer summa output review",
        "addressed_to_ai_intl": (
            "note message remar avis atten consi hinwe nachr notiz achtung anwei mitte nota "
            "mensa messa aviso avviso notit beric let opmer приме сообщ внима замет указа 致 给 給 "
            "へ 에게 ملاحظة رسالة تنبيه المساعد"
        ),
    }
)

SIGNALS = anchored(_SIGNALS, _ANCHORS)
