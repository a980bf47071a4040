"""Recognizers for the pattern entities where presidio's own are weak or slow: cards of
every network and length with Luhn, IBANs with mod-97, SSNs outside the never-issued
ranges, IPv4/IPv6 validated by `ipaddress`, e-mail addresses with a public suffix; and the
policy's own regexes and deny-lists. Phone numbers are in `phone.py`."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator

import tldextract

from policies.pii.checksums import card_length_ok, iban_ok, luhn_ok, ssn_ok
from policies.pii.context import ContextWords, words
from policies.pii.scan import Candidates, ScanRecognizer, has_digit

# Identifiers that are numbers but not personal data: before a candidate they sink it.
_IDENTIFIERS = words(
    "order orders invoice isbn issn doi tracking serial sku part ticket ref reference id "
    "transaction txn confirmation case batch lot model patent build version ver release "
    "timestamp epoch line port pid zip postcode ean upc gtin imei barcode sequence pr issue"
)

_CARD = re.compile(r"(?<![\w.\-/+,])\d{4}([ -]?)\d{2,6}(?:\1\d{1,7}){0,3}(?![\w]|[ .\-/,]\d)")
_CARD_CONTEXT = ContextWords(
    positive=words(
        "card cards credit debit visa mastercard amex discover maestro unionpay jcb diners "
        "mir cc payment pay paid charge charged billing cardholder expires expiring"
    ),
    negative=_IDENTIFIERS | words("account acct iban phone tel"),
)


class CardScanner(ScanRecognizer):
    def __init__(self) -> None:
        super().__init__("CREDIT_CARD", _CARD, _CARD_CONTEXT)

    prefilter = staticmethod(has_digit)

    def judge(self, match: re.Match[str]) -> float | None:
        value, sep = match.group(), match.group(1)
        digits = value.replace(sep, "") if sep else value
        if not 12 <= len(digits) <= 19 or not card_length_ok(digits) or not luhn_ok(digits):
            return None
        if not sep:
            return 0.75 if len(digits) in (15, 16) else 0.55
        groups = [len(g) for g in value.split(sep)]
        # The groupings cards are printed in: 4-4-4-4(-3), Amex 4-6-5, Diners 4-6-4.
        if groups[:-1] != [4] * (len(groups) - 1) and groups not in ([4, 6, 5], [4, 6, 4]):
            return None
        return 0.9


# Case-insensitive: sentences get lowercased (chat input, the evaluator's lower-case
# ratio), and the mod-97 check on the uppercased value keeps it specific.
_IBAN = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}( ?)[A-Z0-9]{4}(?:\1[A-Z0-9]{4}){1,6}"
    r"(?:\1[A-Z0-9]{1,3})?(?![A-Za-z0-9])",
    re.IGNORECASE,
)


class IbanScanner(ScanRecognizer):
    def __init__(self) -> None:
        super().__init__("IBAN_CODE", _IBAN)

    prefilter = staticmethod(has_digit)

    def judge(self, match: re.Match[str]) -> float | None:
        return 0.95 if iban_ok(match.group().replace(" ", "").upper()) else None


_SSN = re.compile(r"(?<![\w\-/.])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\w]|[.\-/]\d)")
_SSN_CONTEXT = ContextWords(
    positive=words("ssn ssns social security ss taxpayer tin itin"),
    negative=_IDENTIFIERS | words("account acct routing phone tel call fax"),
)


class SsnScanner(ScanRecognizer):
    def __init__(self) -> None:
        super().__init__("US_SSN", _SSN, _SSN_CONTEXT)

    prefilter = staticmethod(has_digit)

    def judge(self, match: re.Match[str]) -> float | None:
        if not ssn_ok(match.group(1) + match.group(3) + match.group(4)):
            return None
        # 123-45-6789 is the shape of an SSN; nine bare digits are the shape of anything.
        return {"-": 0.6, " ": 0.45}.get(match.group(2), 0.3)


_IPV4 = re.compile(r"(?<![\w.:\-/])(?:\d{1,3}\.){3}\d{1,3}(?![\w\-]|\.\d)")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4})"
    r"(?![\w:]|\.\w)"
)
_IP_CONTEXT = ContextWords(
    positive=words(
        "ip ips ipv ipv4 ipv6 address addresses addr host hostname server dns ping gateway "
        "subnet netmask cidr connect connected connection ssh firewall proxy router client "
        "blocked banned whitelist allowlist traffic packet packets route nginx request "
        "requests source src dst destination peer vpn lan wan network remote origin"
    ),
    negative=words(
        "version versions ver release build firmware sdk python java chrome update upgrade "
        "patch library package pip npm section chapter figure table step clause paragraph "
        "oid rule"
    ),
)


class IpScanner(ScanRecognizer):
    """IPv4 and IPv6. A dotted quad is also the shape of a version string: one with a
    single-digit first part (`1.2.3.4`) needs an IP-ish word nearby; any is dropped after
    a version-ish one."""

    def __init__(self) -> None:
        super().__init__("IP_ADDRESS", _IPV4, _IP_CONTEXT)

    def prefilter(self, text: str) -> bool:
        return "." in text or ":" in text

    def scan(self, text: str, min_score: float = 0.0) -> Iterator[tuple[int, int, float]]:
        yield from super().scan(text, min_score)
        if "::" not in text and text.count(":") < 7:
            return
        found = Candidates(_IPV6, text)
        for match in found:
            base = _ipv6_score(match.group())
            if base is not None:
                start, end = match.span()
                score = self.context_words.adjust(base, text, start, end)
                if score >= min_score and score > 0:
                    found.accept(match)
                    yield start, end, score

    def judge(self, match: re.Match[str]) -> float | None:
        value = match.group()
        try:
            address = ipaddress.IPv4Address(value)
        except ValueError:
            return None
        if address.is_loopback or address.is_unspecified or value == "255.255.255.255":
            return None  # `127.0.0.1`, `0.0.0.0`: in every config file, nobody's address
        return 0.4 if value.index(".") == 1 else 0.6


def _ipv6_score(value: str) -> float | None:
    try:
        address = ipaddress.IPv6Address(value)
    except ValueError:
        return None
    if address.is_loopback or address.is_unspecified:
        return None
    # `::1` or `a::b` is as likely a C++ scope or a ratio as an address.
    return 0.7 if sum(1 for g in value.split(":") if g) >= 3 else 0.35


# Bounded so a match depends on a bounded stretch of text: a local part of at most 48
# characters starting at a boundary, a domain run of at most 63.
_EMAIL = re.compile(
    r"(?<![\w.%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,47}@(?=[A-Za-z0-9.\-]{3,63}(?![A-Za-z0-9.\-]))"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w\-]|\.[A-Za-z0-9])"
)


class EmailScanner(ScanRecognizer):
    def __init__(self) -> None:
        super().__init__("EMAIL_ADDRESS", _EMAIL)
        # The public-suffix list bundled with tldextract; with no URLs it never downloads.
        self._tlds = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
        self._tlds("example.com")  # it reads the snapshot on first use: here, not mid-request

    def prefilter(self, text: str) -> bool:
        return "@" in text

    def judge(self, match: re.Match[str]) -> float | None:
        if match.string.startswith(":", match.end()):
            return None  # `git@github.com:org/repo`: an ssh remote, not a mailbox
        domain = match.group().rpartition("@")[2]
        parts = self._tlds(domain)
        # `icon@2x.png`, `name@host.local`: no public suffix, not a mailbox on the internet.
        return 0.9 if parts.suffix and parts.domain else None


class RegexScanner(ScanRecognizer):
    """A policy's own entity by regex (`custom: [{name, regex}]`), matched as written."""

    def __init__(self, entity: str, regex: str) -> None:
        super().__init__(entity, re.compile(regex))


class DenyListScanner(ScanRecognizer):
    """A policy's listed values (names, code words) as whole words, case-insensitive."""

    def __init__(self, entity: str, values: Iterable[str]) -> None:
        ordered = sorted({v for v in values if v}, key=len, reverse=True)
        alternation = "|".join(re.escape(v) for v in ordered) or r"(?!x)x"
        super().__init__(entity, re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE))
