"""Phone numbers: local and international forms, extensions, validated by `phonenumbers`
(a presidio dependency). The shape sets a base score (a `+` prefix or `(555) 123-4567` is
near-certain, ten bare digits are not), a valid number for its region adds to it, and
context words decide the rest: a bare number after "call me on" is a phone, the same
number after "order" is not."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import phonenumbers

from policies.pii.context import ContextWords, words
from policies.pii.scan import Candidates, ScanRecognizer, has_digit

_PHONE = re.compile(
    r"""
    (?<![\w+.\-/=$€£¥\#])                       # not the tail of a word, number, path or price
    (?P<number>
        (?P<intl>\+|00)[1-9]\d{0,2}[ .\-]?(?:\(0?\d{1,4}\)[ .\-]?)?\d{1,4}(?:[ .\-]?\d{1,4}){1,5}
      | (?P<paren>\(\d{1,5}\))[ .\-]?\d{2,4}(?:[ .\-]?\d{2,4}){1,3}
      | \d{1,5}(?:[ .\-]\d{2,8}){1,4}
      | \d{7,15}
    )
    (?P<ext>[ ]?(?:ext\.?|extension|x|\#)[ ]?\d{1,6})?
    (?![\w%]|[ .\-/:,]\d)                       # nor the head of a longer one
    """,
    re.VERBOSE | re.IGNORECASE,
)
_NON_DIGIT = re.compile(r"\D")
_SEPARATORS = re.compile(r"[ .\-]")
_DATE = re.compile(
    r"(?:19|20)\d\d[.\-/ ](?:0?[1-9]|1[0-2])[.\-/ ](?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])[.\-/ ](?:0?[1-9]|[12]\d|3[01])[.\-/ ](?:19|20)?\d\d"
)
_PAIRS = re.compile(r"\d\d(?:[ .\-]\d\d)+")
_DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")

_PHONE_CONTEXT = ContextWords(
    positive=words(
        "phone phones telephone tel call calls called calling mobile cell cellphone fax "
        "contact reach dial text texts sms whatsapp office desk home work message messages "
        "voicemail ring answering hotline helpline landline line callback"
    ),
    negative=words(
        "order orders invoice isbn issn doi tracking serial sku part ticket ref reference "
        "id transaction txn confirmation case batch lot model patent build version ver "
        "release timestamp epoch pid zip postcode account acct iban routing "
        "price total amount cost usd eur gbp ssn social card credit"
    ),
)

# What a number valid in its region, or an extension, adds to the shape's score.
VALID_BONUS = 0.15
EXT_BONUS = 0.1

# Regions tried for a number without a country code. The first is the default; the others
# only for a number written with a trunk `0` (`020 7946 0958`), the national form of most
# of the world outside North America.
DEFAULT_REGIONS = ("US", "GB", "DE", "FR", "IT", "ES", "NL", "AU", "IN")


class PhoneScanner(ScanRecognizer):
    def __init__(self, regions: Sequence[str] = DEFAULT_REGIONS) -> None:
        super().__init__("PHONE_NUMBER", _PHONE, _PHONE_CONTEXT)
        self._regions = tuple(regions)
        # phonenumbers loads a region's metadata on its first use (milliseconds each):
        # pay that here, once, rather than in the first requests' latency.
        for region in self._regions:
            example = phonenumbers.example_number(region)
            if example is not None:
                phonenumbers.is_valid_number_for_region(example, region)

    prefilter = staticmethod(has_digit)

    def scan(self, text: str, min_score: float = 0.0) -> Iterator[tuple[int, int, float]]:
        # Shape and context first, the (slow, ~50 us) phonenumbers parse only where its
        # verdict can still decide: most digit runs in a prompt never get that far.
        if not self.prefilter(text):
            return
        found = Candidates(self.pattern, text)
        for match in found:
            number = match.group("number")
            digits = _NON_DIGIT.sub("", number)
            shape = self._shape_score(match, number) if 6 <= len(digits) <= 15 else None
            if shape is None:
                continue
            start, end = match.span()
            score = self.context_words.adjust(shape, text, start, end)
            # A phone word nearby: a national number of a country we do not try, or a
            # short one (`84 23 30`), is still a phone. Without one it must parse.
            told = score > shape
            # Six digits are a phone only as `84 23 30`, and only with a phone word.
            if len(digits) < 7 and not (told and _PAIRS.fullmatch(number)):
                continue
            if match.group("ext"):
                score += EXT_BONUS
            if score + VALID_BONUS < min_score or score + VALID_BONUS <= 0:
                continue
            intl = match.group("intl") is not None
            valid = self._validity(digits, intl, need_valid=score < min_score)
            if valid is None and not told:
                continue
            score = min(1.0, score + (VALID_BONUS if valid else 0.0))
            if score >= min_score and score > 0:
                found.accept(match)
                yield start, end, score

    @staticmethod
    def _shape_score(match: re.Match[str], number: str) -> float | None:
        if match.group("intl"):
            return 0.7
        groups = _SEPARATORS.split(number.removeprefix(match.group("paren") or ""))
        separators = set(_SEPARATORS.findall(number))
        if match.group("paren"):
            return 0.65 if separators <= {" ", "-"} else None
        if _DATE.fullmatch(number) or _DOTTED_QUAD.fullmatch(number):
            return None
        sizes = [len(g) for g in groups]
        if len(separators) > 1:
            # `63 6392-3321`, `08-563 272 95`: national forms that mix spaces and dashes,
            # which quantities and ranges do not; short ones need a phone word.
            if separators != {" ", "-"} or min(sizes) < 2:
                return None
            return 0.5 if len(groups) >= 3 and sum(sizes) >= 9 else 0.3
        if sizes == [3, 2, 4] or _quantity_or_range(groups, separators):
            return None  # an SSN's shape; `12 500 000`, `1204-1206`
        if len(groups) == 1:
            # Bare runs of 7-8 digits are counts and sizes (1048576) far more than phones.
            return 0.3 if len(number) >= 9 or (number[0] == "0" and len(number) >= 8) else None
        if min(sizes[1:]) < 2:
            return None
        if separators == {"."}:
            # Dots separate versions, decimals and quads too: the 555.123.4567 form; a
            # national number (`0482.066.080`, `01.23.45.67.89`) that context confirms.
            if sizes == [3, 3, 4]:
                return 0.6
            return 0.3 if number.startswith("0") or set(sizes) == {2} else None
        if len(groups) == 2:
            # 555-1234 is a local number; other pairs are as often ranges or zip+4 codes,
            # which the length check of `_validity` mostly rejects.
            return 0.35 if sizes == [3, 4] else 0.3
        return 0.6 if separators == {"-"} else 0.45

    def _validity(self, digits: str, international: bool, need_valid: bool) -> bool | None:
        """Whether the number is valid (True), possible only (False) or neither (None).
        Validity is looked up only when `need_valid` (it decides); otherwise a possible
        number reports False."""
        regions: Sequence[str | None] = (None,)
        if international:
            number = "+" + digits.removeprefix("00")
        else:
            number = digits
            regions = self._regions if digits.startswith("0") else self._regions[:1]
        possible = False
        for region in regions:
            try:
                parsed = phonenumbers.parse(number, region)
            except phonenumbers.NumberParseException:
                continue
            if not phonenumbers.is_possible_number(parsed):
                continue
            if not need_valid:
                return False
            possible = True
            # For a national number its region is known: the per-region check skips the
            # search over every region sharing the country code (25 share +1).
            if (
                phonenumbers.is_valid_number_for_region(parsed, region)
                if region
                else phonenumbers.is_valid_number(parsed)
            ):
                return True
        return False if possible else None


def _quantity_or_range(groups: Sequence[str], separators: set[str]) -> bool:
    """Digit groups that write a quantity (`2 345 678`, thousands spaced out; round
    groups as in `100 200 300`) or a range (`1204-1206`), not a phone number."""
    if separators == {" "} and len(groups[0]) == 1 and {len(g) for g in groups[1:]} == {3}:
        return True
    if sum(g.endswith("00") for g in groups) >= 2:
        return True
    if separators == {"-"} and len(groups) == 2 and len(groups[0]) == len(groups[1]):
        low, high = int(groups[0]), int(groups[1])
        span: int = 10 ** (len(groups[0]) - 1)
        return 0 < high - low < span
    return False
