"""Closed word classes the semantic cache's lexical guard reads (general English and
computing vocabulary, not phrases from any test set).

Words are written as the guard's tokens are: casefolded, singular ("pro", not "pros").
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType


def _frozen(mapping: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType(mapping)


def word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen "
_ONES += "fourteen fifteen sixteen seventeen eighteen nineteen"
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety"
NUMBER_WORDS: Mapping[str, float] = MappingProxyType(
    {w: float(i) for i, w in enumerate(_ONES.split())}
    | {w: float(20 + 10 * i) for i, w in enumerate(_TENS.split())}
    | {"dozen": 12.0, "half": 0.5, "twice": 2.0, "double": 2.0, "triple": 3.0}
)
SCALES: Mapping[str, float] = MappingProxyType(
    {"hundred": 1e2, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
)
# "first" and "last" are contrast poles (below), not ordinals: "the first item" and "the
# top item" should not be told apart by a number.
_IRREGULAR = "second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth"
ORDINALS: Mapping[str, str] = _frozen(
    {w: str(i + 2) for i, w in enumerate(_IRREGULAR.split())}
    | {w + "th": str(13 + i) for i, w in enumerate(_ONES.split()[13:])}
    | {w[:-1] + "ieth": str(20 + 10 * i) for i, w in enumerate(_TENS.split())}
)

# Unit aliases -> one spelling, bound to the number before them ("5 km" == "five kilometres").
_UNIT_GROUPS = """
km kilometer kilometre klick|m meter metre|cm centimeter centimetre|mm millimeter millimetre
mi mile|ft foot feet|inch inche|yd yard|kg kilogram kilo|g gram|mg milligram|lb lbs pound
oz ounce|l liter litre|ml milliliter millilitre|gal gallon|cup|tbsp tablespoon|tsp teaspoon
°c c celsius centigrade|°f f fahrenheit|kelvin|% percent pct|sec second|min minute|h hr hour
day|week wk|month mo|year yr|ms millisecond|kb kilobyte|mb megabyte|gb gigabyte|tb terabyte
byte|bit|kbps|mbps|gbps|hz hertz|khz|mhz|ghz|w watt|kw kilowatt|kwh|v volt|amp ampere
mph|kph km/h|px pixel|pt point|dpi|cal calorie kcal|mah|acre|hectare ha|am a.m|pm p.m
"""
UNITS: Mapping[str, str] = _frozen(
    {
        alias: group.split()[0]
        for line in _UNIT_GROUPS.strip().splitlines()
        for group in line.split("|")
        for alias in group.split()
    }
)

# Spellings of one name -> one spelling.
ALIASES: Mapping[str, str] = _frozen(
    {
        "js": "javascript",
        "golang": "go",
        "int": "integer",
        "str": "string",
        "dict": "dictionary",
        "bool": "boolean",
        "ts": "typescript",
        "py": "python",
        "k8s": "kubernetes",
        "postgresql": "postgres",
        "usd": "dollar",
        "$": "dollar",
        "eur": "euro",
        "€": "euro",
        "gbp": "sterling",
        "£": "sterling",
        "jpy": "yen",
        "¥": "yen",
        "inr": "rupee",
        "₹": "rupee",
        "macos": "mac",
        "osx": "mac",
        "uk": "britain",
        "usa": "america",
        "united_states": "america",
        "united_kingdom": "britain",
    }
)

# Names spelt as two words, joined before tokenising.
PHRASES: Mapping[str, str] = _frozen(
    {"united states": "united_states", "united kingdom": "united_kingdom", "per cent": "percent"}
)
# Capitalised spellings that are names where the lower-case word is not ("US", "us").
RAW_ALIASES: Mapping[str, str] = _frozen({"US": "america", "IT": "it_dept"})

# Names written in lower case as often as not: swapping one changes the answer.
CLOSED_NAMES = word_set(
    """
python javascript typescript java kotlin rust ruby php perl scala haskell elixir
erlang clojure lua julia matlab fortran cobol dart c++ c# f# sql bash powershell zsh
html css json yaml toml xml csv markdown pdf docx xlsx png jpeg jpg gif svg webp mp3 mp4 wav
sqlite mysql postgres mongodb redis kafka docker kubernetes terraform ansible nginx
vue angular svelte django flask fastapi rails deno numpy pandas pytorch tensorflow
linux windows mac ubuntu debian fedora android ios chrome firefox safari git svn
aws azure gcp excel powerpoint
english french german spanish italian portuguese dutch russian chinese mandarin cantonese
japanese korean arabic hindi bengali urdu turkish greek polish swedish norwegian danish
finnish hebrew persian thai vietnamese indonesian swahili latin ukrainian czech hungarian
january february april june july august september october november december
monday tuesday wednesday thursday friday saturday sunday summer autumn winter
france germany spain italy portugal britain england scotland ireland america canada mexico
brazil argentina chile peru colombia china japan korea india pakistan russia ukraine poland
sweden norway denmark finland netherlands belgium switzerland austria greece turkey egypt
nigeria kenya ethiopia australia zealand iran iraq israel saudi vietnam thailand indonesia
europe asia africa antarctica
paris london berlin madrid rome tokyo beijing moscow delhi mumbai cairo sydney toronto
bitcoin ethereum mercury venus mars jupiter saturn uranus neptune pluto
hydrogen helium oxygen nitrogen carbon
"""
)

# Contrast classes: one line per class, poles separated by "|". Two turns that both use a
# class must pick the same poles of it. A class marked "!" tells turns apart even when only
# one uses it ("sort a list" / "sort a list descending"); the others are too often filler
# ("write a haiku" / "a haiku", "the best way to" / "how do I").
_POLES = """
!before earlier prior preceding|after later subsequent afterward
!more greater greatest exceed|less least fewer fewest
!higher highest above|lower lowest below beneath
large larger largest big bigger biggest huge tall taller tallest|small smaller smallest tiny little
!maximum max maximise maximize|minimum min minimise minimize
!increase raise grow boost improve|decrease reduce shrink cut
!first earliest|last final latest
!oldest older|newest newer youngest younger
!north northern|south southern|east eastern|west western
left|right
!top|bottom
!upper uppercase|lowercase
!ascending asc|descending desc
encode encoding encoder|decode decoding decoder
encrypt encryption|decrypt decryption
compress compression zip|decompress decompression unzip
serialize serialise serialization|deserialize deserialise deserialization
import|export
upload|download
upgrade|downgrade
send sending sent|receive receiving received
buy buying purchase|sell selling
win winning|lose losing
enable enabling activate|disable disabling deactivate
start starting begin beginning|stop stopping halt end ending finish finishing
open opening|close closing closed shut
push|pull
add adding insert append plus sum|remove removing delete drop minus subtract
times multiply multiplied product|divided divide quotient
power exponent|root
hot heat warm warmer|cold cool colder
near nearer nearest closer closest|far farther farthest further furthest
fresh|dried dry frozen
true|false
input|output
public|private
read reading|write writing
inside internal|outside external
horizontal horizontally|vertical vertically
row|column
local locally|remote remotely
synchronous sync|asynchronous async
cheap cheaper cheapest inexpensive|expensive pricier costly
fast faster fastest quick quicker quickest|slow slower slowest
good best better|bad worst worse
easy easier easiest|hard harder hardest difficult
long longer longest|short
heavy heavier heaviest|light lighter lightest
strong stronger strongest|weak weaker weakest
!pro advantage benefit upside|con disadvantage drawback downside
positive|negative
even|odd
arrive arrival|depart departure
sunrise rise rising|sunset set setting
!yesterday|today|tomorrow|tonight
!past|future
!next upcoming|previous
male boy|female woman women girl
allow permit|deny forbid prevent
accept accepting|reject rejecting decline declining refuse refusing
include including|exclude
legal|illegal
when|where|who|why
on|off
soft softer|hard harder firm
forward forwards|back backward backwards
synonym|antonym
brief briefly simple simply concise summary summarise summarize|detail detailed thorough depth
dollar|euro|sterling|yen|rupee|yuan|franc|peso
"""
_POLE_LINES = _POLES.replace("!", "").strip().splitlines()
POLE_CLASSES: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {
        word: tuple(
            (f"c{n}", f"p{p}")
            for n, line in enumerate(_POLE_LINES)
            for p, pole in enumerate(line.split("|"))
            if word in pole.split()
        )
        for word in " ".join(_POLE_LINES).replace("|", " ").split()
    }
)
STRICT_CLASSES = frozenset(
    f"c{n}" for n, line in enumerate(_POLES.strip().splitlines()) if line.startswith("!")
)
# Words naming the kind of thing a conversion yields ("to an integer", "into JSON").
TYPE_WORDS = word_set(
    "integer string float double boolean list array tuple set dictionary map object bytes "
    "date timestamp decimal binary hex hexadecimal octal fraction percentage"
)
