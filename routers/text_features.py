"""Lexical features for the intent classifier: normalised words, a light stemmer, character
n-grams and a few built-in concept cues.

Pure functions, no I/O. The concept cues are a small thesaurus of domain words (code, maths,
translation, summarising, writing, billing ...): a word in a cluster also emits the cluster's
feature, so an intent whose examples say "translate" also matches an utterance that only says
"in Spanish". A cluster only helps intents whose own examples or keywords touch it; for any other
intent it is a feature nobody holds, so it cannot misroute, only dilute a little.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = [
    "CONCEPT_PREFIX",
    "NGRAM_PREFIX",
    "WEAK_CUE",
    "content_stems",
    "features",
    "normalise",
    "stem",
]

NGRAM_PREFIX = "~"
CONCEPT_PREFIX = "#"
_NGRAM = 4
_MAX_GRAM_STEMS = 24

# Words carrying no topic: function words and the politeness of a request ("could you please
# help me ..."). Greetings are deliberately absent: a small-talk intent must stay possible.
_STOPWORD_TEXT = """
    a an the and or but if then else of to in on at by for with from into onto about as is are
    was were be been being am do does did doing have has had having it its it's this that these
    those there here what which who whom whose when where why how i me my mine myself we us our
    you your yours yourself he him his she her they them their so not no nor too very can could
    would should will shall may might must please kindly just also some any all each every one
    get got want wanted need needed like help let lets i'm im i'd id you're youre give tell show
    thing things something anything way really quite bit lot out up down over more most much
    many than only own same other such again further once now pls plz well
    good great nice best better new old little big quick easy simple
    write wrote written make made create generate explain find use using used try
    """
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# Built-in concept cues; each value is matched against *stems* (see `stem`).
_CONCEPTS: dict[str, tuple[str, ...]] = {
    name: tuple(cues.split())
    for name, cues in {
        "code": """
            select join tabl row column index
            code coding program programm function funct script python java javascript
            typescript rust golang kotlin swift ruby php c++ cpp csharp sql bash shell
            regex bug debug compil refactor class method variabl loop api librar snippet
            implement syntax git html css algorithm recurs array dict json yaml
            dockerfil exception traceback stacktrac segfault null compiler lint unittest
            pytest endpoint backend frontend react node npm async query databas postgr
            mysql sqlite mongo redis schema repo commit deploy runtim modul packag
            import return string integer lambda iter parse parser crash throw error
            valueerror typeerror kubernet log logging django flask spring rail laravel
            vue angular svelte jest mock http https url webhook oauth docker container
            server cach framework sdk cli gui frontend pullrequest merg rebas migrat
            quicksort mergesort hashmap linkedlist binari segment segfault memori leak
            profil concurren mutex deadlock typescript interfac inherit constructor
            getter setter enum struct boolean float variable env environ argument argv
            yield decorat generat coroutin promis callback closur
        """,
        "math": """
            number coin gradient median
            math maths mathemat equat solv integral integrat deriv differentiat calculus
            algebra matrix matric eigenvalu probabil proof prov theorem calcul polynomi
            root factor factoris factoriz limit geometr triangl angl area volum fraction
            percent percentag statist average varianc deviat logarithm log sin cos tan
            prime simplif arithmet multipl divid divis plus minus sum squar cube sqrt
            expon quadrat linear vector converg seri sequenc combinat permut gradient
            median mode dice odds chanc digit modulo gcd lcm radius circumfer hypotenus
            pi formula inequal trigonometr
        """,
        "translate": """
            translat transl languag french spanish german italian portugues chines
            mandarin japanes korean russian arabic hindi dutch english polish turkish
            swedish greek hebrew vietnames thai ukrainian localiz localis interpret
            bilingu nativ fluent subtitl idiom
        """,
        "summarise": """
            conclus keypoint cliff
            summar summaris summariz tldr recap condens shorten gist brief briefli
            outlin overview digest abstract nutshel highlight takeaway synops essenti
            concis skim distil keypoint cliff
        """,
        "write": """
            essay poem poetri stori stor draft blog slogan lyric song haiku novel
            fiction narrat rewrit paraphras proofread caption tweet headlin limerick
            sonnet
        """,
        "food": """
            recip cook cooking bake bak roast grill fry boil simmer stew soup sauc dough
            bread oven stove pan skillet ingredi spice herb marinad dinner lunch
            breakfast dessert meal vegan vegetarian gluten flour sugar butter egg
            chicken beef pork lamb fish salmon tofu rice pasta noodl potato onion garlic
            tomato chees salad curry cake cooki pie batter bak yeast sourdough caramel
            season salt pepper dish cuisin chef delici tasti mayonnais yogurt cream dip
            omelet pesto vinaigrett corn bean lentil carrot mushroom lemon basil oregano
            cumin paprika cinnamon vanilla chocolat muffin brownie pancak waffl steak
            burger sandwich sushi taco burrito ramen smoothi gravi broth marinat thicken
            chili leftov lasagna risotto
        """,
        "health": """
            symptom doctor medic medicin health diet exercis workout fitness pain fever
            sleep headach diseas vitamin nutrit calori weight therapi anxieti stress
            injuri
        """,
        "travel": """
            trip travel flight hotel itinerari visa vacat holiday tourist sightse
            airport passport destin beach museum
        """,
        "weather": """
            weather rain snow forecast temperatur sunni cloudi wind storm humid
        """,
        "greeting": """
            hi hello hey hiya howdy greet morn morning afternoon evening night thank thanks cheer
            cheers bye goodbye ciao yo sup
        """,
        "orders": """
            order deliveri deliver shipp ship packag parcel track arriv courier return exchang
            warranti
        """,
        "billing": """
            bill invoic charg payment pai paid refund subscript price pric credit card
            receipt cancel renew fee purchas overcharg discount coupon upgrad downgrad
        """,
    }.items()
}
# Cues that are everyday words too ("a leaking tap", "spring", "the French Revolution",
# "prime minister"): alone they weigh `WEAK_CUE`; two of one concept, or one beside a strong
# cue, weigh in full. A language name is strong only as a target ("into Spanish", see
# `content_stems`).
_WEAK_TEXT = """
    class method loop array string integer return import error crash throw null log logging
    spring rail node container server mock merg commit deploy parse iter lambda leak memori
    profil segment query schema http url cli gui interfac inherit float env environ argument
    yield generat promis callback closur enum struct boolean variable cach framework modul
    packag stack react swift ruby rust java shell lint select join tabl row column index
    root factor limit area volum angl prime sum squar cube plus minus linear vector seri
    sequenc odds chanc digit mode median average radius formula divid divis multipl percent
    percentag fraction sin tan number proof prov coin
    french spanish german italian portugues chines mandarin japanes korean russian arabic
    hindi dutch english polish turkish swedish greek hebrew vietnames thai ukrainian nativ
    fluent idiom interpret
    brief briefli outlin overview digest abstract highlight essenti concis skim distil cliff conclus
    dish season salt pepper cream dip corn bean lemon chili pan stove dinner lunch breakfast
    meal kitchen chef tasti delici
    song stori stor novel fiction caption tweet draft blog
    card credit price pric cancel upgrad downgrad renew plan
    pain sleep weight stress diet
    trip beach museum destin
    wind storm
    morn morning afternoon evening night cheer cheers
    order packag track arriv return exchang
"""
_WEAK = frozenset(_WEAK_TEXT.split())
WEAK_CUE = 0.4
_MIN_PREFIX = 5


def _build_concept_index() -> dict[str, tuple[tuple[str, bool], ...]]:
    """stem -> cues. Lookup (`_concepts`) is exact, or by the longest cue of five letters or
    more that begins the stem ("summarization" -> "summariz"); shorter cues ("log", "sin",
    "sql") match exactly only, so "login" or "single" stay neutral."""
    index: dict[str, set[tuple[str, bool]]] = {}
    for name, cues in _CONCEPTS.items():
        for cue in cues:
            for key in {cue, stem(cue)}:
                index.setdefault(key, set()).add((CONCEPT_PREFIX + name, cue not in _WEAK))
    return {key: tuple(sorted(names)) for key, names in index.items()}


# Tokens: words (letters/digits, with an inner apostrophe or ++/#), or one maths/code symbol.
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)?(?:\+\+|#)?|[=+\-*/^<>{}\[\]();%∫∑√≤≥≠π]")
# The same for ASCII text (most of it), without the cost of Unicode classes.
_ASCII_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)?(?:\+\+|#)?|[=+\-*/^<>{}\[\]();%]")
# Code-looking syntax: (literal trigger, pattern); the pattern runs only if the trigger is in.
_CODE_SYNTAX = tuple(
    (trigger, re.compile(pattern, re.MULTILINE))
    for trigger, pattern in (
        ("```", "```"),
        ("=>", "=>"),
        ("#include", "#include"),
        ("console.log", "console.log"),
        ("(", r"def \w+\(|function\s*\w*\(|print\(|\w\(\)|\w\.\w+\(|[a-z][A-Z]\w*\("),
        (";", r";\s*$"),
        ("{", r"[{}]\s*$"),
        ("}", r"[{}]\s*$"),
        ("return", r"^\s*return\b"),
        ("import ", r"\bimport \w"),
        ("SELECT", r"SELECT\b.+?\bFROM\b"),
        ("[", r"\[[a-z0-9]-[a-z0-9]"),
        ("\\", r"\\[dwsb]"),
        ("<", r"</?[a-z]+>"),
        ("_", r"[a-z]_[a-z]"),
    )
)


def _looks_like_code(text: str) -> bool:
    return any(trigger in text and rx.search(text) for trigger, rx in _CODE_SYNTAX)


# Formula-looking syntax, the same way: (literal triggers, pattern).
_MATH_SYNTAX = tuple(
    (triggers, re.compile(pattern))
    for triggers, pattern in (
        (tuple("+-*/^=\u00d7\u00f7"), r"\d\s*[-+*/^\u00d7\u00f7=]\s*\(?\s*[\dxyzn]"),
        (("^",), r"[xyz]\s*\^\s*\d"),
        (("\\",), r"\\(?:frac|int|sum|sqrt|lim)"),
        (tuple("∫∑√≤≥≠π"), r"[∫∑√≤≥≠π]"),
        (("%",), r"\d\s*%"),
        (
            (" times ", " plus ", " minus ", " divided by ", " over ", " mod "),
            r"\d\s+(?:times|plus|minus|divided by|over|mod)\s+\d",
        ),
        (("x", "y"), r"\d\s*[xy]\b"),
        (("=",), r"\b[xyz]\s*=\s*-?\d"),
        (("dx",), r"\bd/dx\b|\bdx\b"),
        (("power of", "log base"), r"to the power of|log base"),
        (("squared", "cubed"), r"\d\s*(?:squared|cubed)\b"),
    )
)


def _looks_like_maths(text: str) -> bool:
    return any(
        any(t in text for t in triggers) and rx.search(text) for triggers, rx in _MATH_SYNTAX
    )


# (suffix, replacement), first match wins; "-ation" keeps its "at" so that "translation" and
# "translate" meet at "translat", "summarization" and "summarize" at "summariz".
_SUFFIX_TEXT = """
    isations:is izations:iz isation:is ization:iz ational:at fulness: iveness: ations:at ation:at
    ments: ness: ment: ings: ing: ies: ied: ers: ed: er: es: ly: al: s: e: y:
"""


def _suffix_table() -> dict[int, dict[str, str]]:
    """suffix length -> {suffix: replacement}: one dict lookup per length, not per suffix."""
    table: dict[int, dict[str, str]] = {}
    for pair in _SUFFIX_TEXT.split():
        suffix, replacement = pair.split(":")
        table.setdefault(len(suffix), {})[suffix] = replacement
    return table


_SUFFIXES = _suffix_table()
_SUFFIX_LENGTHS = sorted(_SUFFIXES, reverse=True)


_LANGUAGE_TEXT = """
    french spanish german italian portuguese chinese mandarin cantonese japanese korean russian
    arabic hindi dutch english polish turkish swedish danish norwegian finnish greek hebrew
    vietnamese thai ukrainian czech romanian hungarian indonesian swahili latin
"""
_LANGUAGES = frozenset(_LANGUAGE_TEXT.split())
_LANGUAGE_BEFORE = frozenset({"in", "into", "to", "from"})
_LANGUAGE_AFTER = frozenset(
    {"word", "words", "phrase", "expression", "translation", "version", "for"}
)

# Multi-word idioms folded into one word before tokenising: "sum it up" is not arithmetic.
# Each has literal triggers: `in` is far cheaper than a regex scan that finds nothing.
_PHRASES = (
    (("sum",), re.compile(r"\bsum(?:s|med|ming)? ((?:\w+ ){0,3})up\b"), r"summarise \1"),
    (("boil",), re.compile(r"\bboil(?:s|ed|ing)? ((?:\w+ ){0,3})down\b"), r"condense \1"),
    (("tl",), re.compile(r"\btl;?dr\b"), "tldr"),
    (("short",), re.compile(r"\bin short\b|\bshort version\b"), "briefly"),
    (
        ("point", "idea", "message", "takeaway"),
        re.compile(r"\b(?:key|main|important|core) (?:points?|ideas?|messages?|takeaways?)\b"),
        "keypoints",
    ),
    (("pull request",), re.compile(r"\bpull requests?\b"), "pullrequest"),
    (("unit test",), re.compile(r"\bunit tests?\b"), "unittest"),
    (("mean",), re.compile(r"\b(?:the|a|arithmetic) mean\b|\bmean (?:and|of|value)\b"), "average "),
    (("how many ways",), re.compile(r"\bhow many ways\b"), "combinations"),
)


def normalise(text: str) -> str:
    """NFKC, case-folded, accents stripped (so "résumé" and "resume" meet), idioms folded."""
    if text.isascii():
        plain = text.lower()
    else:
        folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
        plain = "".join(c for c in folded if not unicodedata.combining(c)).replace("\u2019", "'")
    for triggers, pattern, replacement in _PHRASES:
        if any(t in plain for t in triggers):
            plain = pattern.sub(replacement, plain)
    return plain


def stem(word: str) -> str:
    """A light suffix stripper: consistent rather than linguistic. Keeps stems >= 3 letters."""
    if len(word) <= 3 or not word.isalpha():
        return word
    # Longest suffix first (the table has no two suffixes of one length that both match).
    for length in _SUFFIX_LENGTHS:
        if len(word) - length < 3:
            continue
        replacement = _SUFFIXES[length].get(word[-length:])
        if replacement is not None:
            word = word[:-length] + replacement
            break
    # A doubled final consonant left by -ing/-ed ("running" -> "runn" -> "run").
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]
    return word


def content_stems(text: str) -> list[str]:
    """Stems of the words that carry topic, in order (symbols kept, stopwords dropped)."""
    out: list[str] = []
    plain = normalise(text)
    tokens = (_ASCII_TOKEN if plain.isascii() else _TOKEN).findall(plain)
    for i, token in enumerate(tokens):
        if token in _STOPWORDS:
            continue
        out.append(stem(token))
        # "into Spanish", "the Korean word for": a language named as a target is a request
        # to translate; a language alone ("French onion soup") is not.
        if token in _LANGUAGES and (
            (i > 0 and tokens[i - 1] in _LANGUAGE_BEFORE)
            or (i + 1 < len(tokens) and tokens[i + 1] in _LANGUAGE_AFTER)
        ):
            out.append("translat")
    return out


def _concepts(stems: Iterable[str]) -> dict[str, float]:
    """cue -> strength: 1 for a strong cue or two weak ones, `WEAK_CUE` for one weak cue."""
    strong: set[str] = set()
    weak: dict[str, set[str]] = {}
    for s in stems:
        cues = _CONCEPT_OF.get(s)
        if cues is None and len(s) > _MIN_PREFIX and s[:_MIN_PREFIX] in _CUE_HEADS:
            for k in range(min(len(s) - 1, 14), _MIN_PREFIX - 1, -1):
                cues = _CONCEPT_OF.get(s[:k])
                if cues is not None:
                    break
        for cue, is_strong in cues or ():
            if is_strong:
                strong.add(cue)
            else:
                weak.setdefault(cue, set()).add(s)
    found = dict.fromkeys(strong, 1.0)
    for cue, hits in weak.items():
        if cue not in found:
            found[cue] = 1.0 if len(hits) >= 2 else WEAK_CUE
    return found


_CONCEPT_OF = _build_concept_index()
# The first five letters of every cue long enough for prefix lookup: most words miss here.
_CUE_HEADS = frozenset(key[:_MIN_PREFIX] for key in _CONCEPT_OF if len(key) >= _MIN_PREFIX)


def features(text: str) -> tuple[dict[str, float], dict[str, float]]:
    """(word features, character n-gram features) of `text`, each a term -> count map.

    Word features are the stems plus concept cues (and `#code-syntax` / `#math-syntax` when the
    text *looks* like code or a formula); n-grams are taken inside each stem with boundary
    marks, so "summarise", "summary" and "summarization" still share most of their grams.
    """
    stems = content_stems(text)
    words: dict[str, float] = {}
    for s in stems:
        # Symbols and bare numbers say "maths" or "code" through the syntax cues below; as
        # words they only add noise ("2018", "-").
        if s.isalpha():
            words[s] = words.get(s, 0.0) + 1.0
    grams: dict[str, float] = {}
    # Grams of the first distinct stems only: they catch spelling variants, and past a few
    # dozen words they add cost, not signal.
    for s, count in list(words.items())[:_MAX_GRAM_STEMS]:
        if len(s) < 3:
            continue
        marked = f"<{s}>"
        for i in range(len(marked) - _NGRAM + 1):
            g = NGRAM_PREFIX + marked[i : i + _NGRAM]
            grams[g] = grams.get(g, 0.0) + count
    words.update(_concepts(stems))
    # Syntax is evidence of its topic too: "x^2 - 5x + 6" says maths without a maths word.
    if _looks_like_code(text):
        words[CONCEPT_PREFIX + "code-syntax"] = 1.0
        words[CONCEPT_PREFIX + "code"] = 1.0
    if _looks_like_maths(text):
        words[CONCEPT_PREFIX + "math-syntax"] = 1.0
        words[CONCEPT_PREFIX + "math"] = 1.0
    return words, grams
