"""Checks a regex cannot make: the Luhn digit of a card, the mod-97 of an IBAN, the ranges
the SSA never issues. Each takes the bare value (no separators)."""

from __future__ import annotations

# Length of a valid IBAN per country (the SWIFT IBAN registry): a right checksum with the
# wrong length is a coincidence, not an account.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
}  # fmt: skip


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if i % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_length_ok(digits: str) -> bool:
    """Whether the issuer prefix (IIN) is a card network's and the length one it issues:
    Visa, Mastercard (51-55 and the 2221-2720 series), Mir, Amex, Diners, JCB, Discover,
    UnionPay, Maestro. Order numbers and ISBNs mostly start elsewhere (1, 7, 8, 9)."""
    n = len(digits)
    two, four = int(digits[:2]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if 2200 <= four <= 2204:  # Mir
        return 16 <= n <= 19
    if two in (34, 37):  # American Express
        return n == 15
    if two in (30, 36, 38, 39):  # Diners Club
        return 14 <= n <= 19
    if two == 35 or four in (2131, 1800):  # JCB (2131 and 1800: its old 15-digit series)
        return 16 <= n <= 19 if two == 35 else n == 15
    if four == 604:  # Maestro's 0604 range
        return 12 <= n <= 19
    if two == 50 or 56 <= two <= 69:  # Maestro, Discover, UnionPay, RuPay
        return 12 <= n <= 19
    return False


def iban_ok(iban: str) -> bool:
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit():
        return False
    rotated = iban[4:] + iban[:4]
    # Letters count as two digits (A=10 ... Z=35); int(c, 36) is exactly that mapping.
    number = "".join(str(int(c, 36)) for c in rotated)
    return int(number) % 97 == 1


# Numbers the SSA published or that circulate as examples (Woolworth's wallet card, the
# textbook 123-45-6789): a match is an example, not a person.
_SSN_EXAMPLES = frozenset({"078051120", "219099999", "123456789", "457555462"})


def ssn_ok(digits: str) -> bool:
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return digits not in _SSN_EXAMPLES and len(set(digits)) > 1
