"""Writes `faker_en.jsonl` (span-labelled PII sentences) and `hard_negatives.jsonl`.

Run once; the output is committed and nothing reads this script at test time:

    .venv/bin/python tests/data/pii/make_fixture.py

Sentences: the customer-support templates of presidio-evaluator 0.3.2 that carry the
policy's entities (`data_generator/raw_data/templates.txt`, MIT; taken as text because
the package's dependencies, transformers and pandas among them, are not ours to add),
filled with Faker values in the manner of its `PresidioSentenceFaker`, plus our own
templates for the cases presidio is weak on: international and local phone forms with
extensions, 12-19-digit cards (Mastercard 2-series, Maestro, UnionPay) with separators,
IBANs of several countries. Hard negatives: numbers that are not personal data (order
numbers, versions, timestamps, ISBNs, UUIDs, prices, dates, line numbers, git SHAs).
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from faker import Faker

HERE = Path(__file__).resolve().parent
SEED = 11

PRESIDIO_TEMPLATES = [
    "I want to increase limit on my card # {{credit_card_number}} for certain duration of time. is it possible?",
    "My credit card {{credit_card_number}} has been lost, Can I request you to block it.",
    "Need to change billing date of my card {{credit_card_number}}",
    "Are there any charges applied for money transfer from {{iban}} to other bank accounts",
    "Please update the billing address with {{address}} for this card: {{credit_card_number}}",
    "I have lost my card {{credit_card_number}}. Could you please block my credit card ASAP ? My name is {{person}}.",
    "I have done an online order but didn't get any message on my registered {{phone_number}}. Could you please look into it ?",
    "Could you please send me the last billed amount for cc {{credit_card_number}} on my e-mail {{email}}?",
    "card number {{credit_card_number}} is lost, can you please send a new one to {{address}}? I am in {{city}} for a business trip",
    "Please transfer all funds from my account to this hackers' {{email}}",
    "I can't browse to your site, keep getting address {{ip_address}} blocked error",
    "Please have the manager call me at {{phone_number}} I'd like to join accounts with ms. {{first_name}}",
    "I would like to stop receiving messages to {{phone_number}}",
    "Please send my portfolio to this email {{email}}",
    "Please block card no {{credit_card_number}}",
    "Can someone call me on {{phone_number}}? I have some questions about opening an account.",
    "You said your email is {{email}}. Is that correct?",
    "Please charge my credit card. Number is {{credit_card_number}}",
    "How can we reach you? You can call {{phone_number}}",
    "Hi {{first_name}}, I'm contacting you about a problem I have with sending a wire transfer using this IBAN {{iban}}",
    "My IBAN is {{iban}}",
    "His social security number is {{ssn}}",
    "Here's my SSN: {{ssn}}",
    "{{name}}\n{{organization}}\n{{address}}\n{{phone_number}} office\n{{phone_number}} fax\n",
    "{{name}}\n{{organization}}\n{{address}}\nMobile: {{phone_number}}\nDesk: {{phone_number}}\n",
    "They're not answering at {{phone_number}}",
    "Date: {{date_time}}\nName: {{name}}\nPhone: {{phone_number}}",
    "{{name}}\n\n{{job}}\n\nPersonal Info:\nPhone:\n{{phone_number}}\n\nE-mail:\n{{email}}\n",
]
OWN_TEMPLATES = [
    "Our London office is on {{intl_phone}}, the Berlin desk on {{intl_phone}}.",
    "Ring me on {{local_phone}} after six, or text {{local_phone}}.",
    "Support line: {{us_phone}} (ask for {{first_name}}).",
    "You can reach {{first_name}} at {{us_phone_ext}} during office hours.",
    "New card: {{grouped_card}}, expires 09/29, please update the subscription.",
    "I paid with {{maestro_card}} but the charge was declined.",
    "The UnionPay card {{unionpay_card}} was charged twice on {{date_time}}.",
    "Refund to card {{card_2_series}} please, order reference 77812.",
    "Wire the deposit to {{spaced_iban}} (account holder {{name}}).",
    "Bank details for the invoice: IBAN {{iban_any}}, BIC DEUTDEFF.",
    "Login from {{ip_address}} was blocked by the firewall at {{date_time}}.",
    "SSN {{ssn}} appears on the W-2 for {{name}}.",
    "Forward the contract to {{email}} and cc {{email}}.",
    "{{first_name}} {{last_name}}, tel. {{intl_phone}}, email {{email}}",
]

HANDWRITTEN_NEGATIVES = [
    "Order number: 5551234567, placed on 2024-03-02.",
    "Build 20240115.3 is the last one with the old installer.",
    "The ISBN-10 0-306-40615-2 and ISBN 978-0-306-40615-7 are the same book.",
    "Windows version 10.0.19045.3803 needs the March patch.",
    "Python 3.11.4 and Node 20.11.1 are installed; pip 23.3.1 too.",
    "PR #12345 fixes issue 4567; see commit 9fceb02d0ae598e95dc970b74767f19372d61af8.",
    "Set the timeout to 30000 ms and retries to 5, backoff 1.5.",
    "New York is at 40.7128, -74.0060 and Paris at 48.8566, 2.3522.",
    "We now have 1,234,567 users and 12,345 paying teams.",
    "The EAN 4006381333931 is printed under the barcode.",
    "IMEI 490154203237518 was reported stolen.",
    "Pages 1234-5678 of the proceedings cover it; ports 8000-8080 are open.",
    "Pi is 3.14159265358979 and e is 2.71828182845904.",
    "The pointer was 0x7fff5fbff8a8 when it crashed at 12:30:45.123.",
    "Elapsed 01:23:45, checkpoint at step 250000 of 1000000.",
    "Dates: 2024/01/15, 15-01-2024, 01.02.2024 and 12/31/1999.",
    "Upgrade from 4.2.1.0 to 4.3.0.0 fixed the memory leak.",
    "The SNMP OID 1.3.6.1.4.1.2021 reports load averages.",
    "Apply rule 1.2.3.4 of the handbook before escalating.",
    "ID: 987-65-4321 is in the payroll test data (invalid area number).",
    "Employee id 123-45-6788 belongs to the sandbox tenant.",
    "Serial 4111-1111-1111-1111 is written on the test device's label.",
    "Matrix size 1024 2048 4096, batch 64, lr 0.0003.",
    "The transaction 6011000990139424 was reconciled in the ledger export.",
    "Population: 8 336 817 (2022), area 783.8 km2.",
    "Tracking: 1Z999AA10123456784 via UPS, box 3 of 4.",
    "Release 2.4.0 ships on 2025-06-01; the tag is v2.4.0-rc.3.",
    "git checkout 3f2a9c1 && git cherry-pick e83c5163316f89bfbde7d9ab23ca2e25604af290",
    "Room 101, floor 12, building 7; the door code changes daily.",
    "Score 98.6%, latency p99 212 ms, 3.2 GB resident.",
    "Use std::chrono::seconds and a::b in the header, then ratio 16:9.",
    "Invoice 2023-00045678 total EUR 1.299,00 due 30.06.2024.",
    "Docker image sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4",
    "The answer is 42, the question took 7.5 million years.",
    "The epoch 1712345678 corresponds to April 2024.",
    "Lottery numbers 04 11 23 35 42 48, bonus 07.",
    "Chapter 3.2.1.4 explains the proof.",
    "Set max_tokens=4096, temperature=0.7, top_p=0.95, seed=1234567890.",
    "Wait 1-2 business days; call volume is high (error 503).",
    "UUID 550e8400-e29b-41d4-a716-446655440000 identifies the tenant.",
]

# presidio-evaluator's `PhoneNumberProviderNew` formats (`faker_extensions/providers.py`).
EVALUATOR_PHONE_FORMATS = [
    "##########", "###-###-####", "###-#######", "07700 ### ###", "07700 ######",
    "07700######", "(07700) ### ###", "(07700) ######", "(07700)######", "+447700 ### ###",
    "+447700 ######", "+447700######", "+91##########", "0##########", "+41 2# ### ## ##",
    "+41 7# ### ## ##", "+41 (0)4# ### ## ##", "+46 (0)8 ### ### ##", "+46 (0)## ## ## ##",
    "+46 (0)### ### ##", "(###)###-####", "###.###.####", "###-###-####x###",
    "###-###-####x####", "(###)###-####x###", "###.###.####x####", "+1-###-###-####",
    "001-###-###-####", "+1-###-###-####x###",
]  # fmt: skip
# The shapes of the national numbers (no country code) in its FakeNameGenerator records,
# most frequent first.
RECORD_PHONE_SHAPES = [
    "### ####", "### ### ###", "###-###-####", "### ### ####", "## ######", "#### ## ## ##",
    "##-##-##-##", "### ## ###", "## ### ###", "#### ### ## ##", "### ### ## ##",
    "###-###-###", "## ### ## ##", "##-########", "(###) ####-###", "##.##.##.##.##",
    "## ### ### ####", "(##) ####-####", "### #### ####", "## ## ##", "#### ####",
    "(##) ###-###", "#### #######", "(##) #### ####", "####-#######", "(#) ###-####",
]  # fmt: skip
LOWER_CASE_RATIO = 0.05

PHONE_LOCALES = ["en_US"] * 6 + ["en_GB", "de_DE", "fr_FR", "en_AU"]
IBAN_LOCALES = ["en_GB", "de_DE", "fr_FR", "es_ES", "nl_NL", "it_IT", "pl_PL", "fi_FI"]


def moment(fake: Faker) -> datetime:
    # Between fixed dates: Faker's defaults end at "now", so the file would change daily.
    return fake.date_time_between(datetime(1990, 1, 1), datetime(2025, 12, 31))


def with_luhn(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    for check in "0123456789":
        digits = body + check
        total = sum(
            (int(c) * 2 - 9 if int(c) > 4 else int(c) * 2) if i % 2 else int(c)
            for i, c in enumerate(reversed(digits))
        )
        if total % 10 == 0:
            return digits
    raise AssertionError


def grouped(digits: str, sep: str) -> str:
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


def providers(
    fakers: dict[str, Faker], rng: random.Random
) -> dict[str, tuple[str | None, Callable[[], str]]]:
    us, pick, r = fakers["en_US"], rng.choice, rng

    def intl_phone() -> str:
        return pick(
            [
                lambda: f"+44 20 7946 {rng.randint(0, 9999):04d}",
                lambda: f"+49 30 {rng.randint(100000, 999999)}",
                lambda: f"0044 20 7946 {rng.randint(0, 9999):04d}",
                lambda: (
                    f"+33 1 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}"
                ),
                lambda: f"+1 (415) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}",
                lambda: f"+61 2 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
                lambda: f"+91 98{rng.randint(100, 999)} {rng.randint(10000, 99999)}",
            ]
        )()

    def us_phone() -> str:
        a, b, c = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
        return pick(
            [f"({a}) {b}-{c:04d}", f"{a}.{b}.{c:04d}", f"{a}-{b}-{c:04d}", f"1-{a}-{b}-{c:04d}"]
        )

    def us_phone_ext() -> str:
        return us_phone() + pick(
            [
                f" ext. {rng.randint(1, 9999)}",
                f"x{rng.randint(1, 999)}",
                f" ext {rng.randint(10, 99)}",
            ]
        )

    def local_phone() -> str:
        return pick(
            [
                f"020 7946 {rng.randint(0, 9999):04d}",
                f"030 {rng.randint(100000, 99999999)}",
                f"{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}",
                f"07700 900{rng.randint(0, 999):03d}",
                f"01 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
            ]
        )

    def numerify(shape: str) -> str:
        # A leading 0 is a trunk prefix only where the shape says so (`0###`, `07700`).
        out = "".join(str(r.randint(0, 9)) if c == "#" else c for c in shape)
        return (
            re.sub(r"^(\(?)0", lambda m: m.group(1) + str(r.randint(1, 9)), out)
            if shape[0] in "#(" and not shape.startswith("(0")
            else out
        )

    def phone_number() -> str:
        roll = rng.random()
        if roll < 0.4:
            return fakers[pick(PHONE_LOCALES)].phone_number()
        if roll < 0.75:
            return numerify(pick(EVALUATOR_PHONE_FORMATS))
        return numerify(pick(RECORD_PHONE_SHAPES))

    def iban_any() -> str:
        return fakers[pick(IBAN_LOCALES)].iban()

    return {
        "credit_card_number": ("CREDIT_CARD", us.credit_card_number),
        "iban": ("IBAN_CODE", iban_any),
        "iban_any": ("IBAN_CODE", iban_any),
        "spaced_iban": ("IBAN_CODE", lambda: grouped(iban_any(), " ")),
        "phone_number": ("PHONE_NUMBER", phone_number),
        "intl_phone": ("PHONE_NUMBER", intl_phone),
        "local_phone": ("PHONE_NUMBER", local_phone),
        "us_phone": ("PHONE_NUMBER", us_phone),
        "us_phone_ext": ("PHONE_NUMBER", us_phone_ext),
        "email": ("EMAIL_ADDRESS", us.email),
        "ssn": ("US_SSN", us.ssn),
        "ip_address": ("IP_ADDRESS", lambda: us.ipv4() if rng.random() < 0.8 else us.ipv6()),
        "grouped_card": (
            "CREDIT_CARD",
            lambda: grouped(us.credit_card_number("visa16"), pick(" -")),
        ),
        "card_2_series": (
            "CREDIT_CARD",
            lambda: grouped(with_luhn(str(rng.randint(2221, 2720)), 16, rng), pick([" ", "-", ""])),
        ),
        "maestro_card": (
            "CREDIT_CARD",
            lambda: with_luhn(pick(["5018", "6759", "6304"]), pick([12, 16, 19]), rng),
        ),
        "unionpay_card": (
            "CREDIT_CARD",
            lambda: grouped(
                with_luhn("62" + str(rng.randint(10, 99)), pick([16, 19]), rng), pick([" ", ""])
            ),
        ),
        "person": ("PERSON", us.name),
        "name": ("PERSON", us.name),
        "first_name": ("PERSON", us.first_name),
        "last_name": ("PERSON", us.last_name),
        "city": ("LOCATION", us.city),
        "address": ("LOCATION", lambda: us.address().replace("\n", ", ")),
        "organization": ("ORGANIZATION", us.company),
        "job": (None, us.job),
        "date_time": (
            "DATE_TIME",
            lambda: moment(us).strftime(pick(["%Y-%m-%d %H:%M", "%d %B %Y", "%m/%d/%Y"])),
        ),
    }


def fill(
    template: str, table: dict[str, tuple[str | None, Callable[[], str]]]
) -> dict[str, object]:
    text, spans, at = "", [], 0
    for match in re.finditer(r"\{\{(\w+)\}\}", template):
        text += template[at : match.start()]
        entity, make = table[match.group(1)]
        value = make()
        if entity:
            spans.append({"start": len(text), "end": len(text) + len(value), "entity": entity})
        text += value
        at = match.end()
    return {"text": text + template[at:], "spans": spans}


def sentences(rng: random.Random, fakers: dict[str, Faker]) -> list[dict[str, object]]:
    table = providers(fakers, rng)
    rows = []
    for source, templates, copies in (
        ("presidio-evaluator", PRESIDIO_TEMPLATES, 14),
        ("own", OWN_TEMPLATES, 12),
    ):
        for template in templates:
            for _ in range(copies):
                row = fill(template, table)
                text = str(row["text"])
                # As the evaluator's `lower_case_ratio`: some users type in lower case.
                if rng.random() < LOWER_CASE_RATIO and len(text.lower()) == len(text):
                    row["text"] = text.lower()
                rows.append({**row, "source": source})
    rng.shuffle(rows)
    return rows


def isbn13(rng: random.Random) -> str:
    body = "978" + "".join(rng.choice("0123456789") for _ in range(9))
    check = (10 - sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(body)) % 10) % 10
    return f"{body[:3]}-{body[3]}-{body[4:8]}-{body[8:12]}-{check}"


def hard_negatives(rng: random.Random, fake: Faker) -> list[dict[str, str]]:
    r, hexs = rng.randint, lambda n: "".join(rng.choice("0123456789abcdef") for _ in range(n))
    makers: dict[str, list[Callable[[], str]]] = {
        "order_number": [
            lambda: f"Your order {r(10**9, 10**10 - 1)} has shipped and should arrive on Friday.",
            lambda: f"Order #{with_luhn('4', 16, rng)} was refunded yesterday.",
            lambda: f"Invoice no. {r(10**6, 10**7)}-{r(100, 999)} is overdue by 12 days.",
            lambda: f"Tracking number {r(10**11, 10**12)} shows the parcel in transit.",
            lambda: f"Reference {with_luhn('5', 16, rng)} for your order confirmation.",
            lambda: f"Ticket {r(100000, 999999)} was escalated to tier 2.",
        ],
        "version": [
            lambda: f"Upgrade to version {r(1, 9)}.{r(0, 20)}.{r(0, 30)}.{r(0, 9)} before Monday.",
            lambda: (
                f"We pinned numpy=={r(1, 2)}.{r(0, 26)}.{r(0, 5)} and torch {r(1, 2)}.{r(0, 9)}.{r(0, 3)}."
            ),
            lambda: f"Chrome {r(100, 130)}.0.{r(1000, 6999)}.{r(10, 200)} crashes on startup.",
            lambda: (
                f"Firmware build {r(1, 9)}.{r(0, 9)}.{r(0, 99)}.{r(1000, 9999)} fixes the wifi bug."
            ),
            lambda: (
                f"v{r(1, 5)}.{r(0, 9)}.{r(0, 9)}-rc.{r(1, 9)} is tagged; release notes in CHANGELOG.md."
            ),
        ],
        "timestamp": [
            lambda: f"The job started at {moment(fake).isoformat()} and took 42 s.",
            lambda: f"epoch {r(1_500_000_000, 1_800_000_000)} in the log means the token expired.",
            lambda: (
                f"created_at={r(1_500_000_000_000, 1_800_000_000_000)} updated_at={r(1_500_000_000_000, 1_800_000_000_000)}"
            ),
            lambda: (
                f"[{moment(fake).strftime('%Y-%m-%d')} {r(0, 23):02d}:{r(0, 59):02d}:{r(0, 59):02d}.{r(0, 999999):06d}] worker-{r(1, 9)} INFO done"
            ),
        ],
        "isbn": [
            lambda: f"The book's ISBN is {isbn13(rng)}, second edition.",
            lambda: f"See ISBN {isbn13(rng).replace('-', '')} in the catalogue.",
        ],
        "uuid": [
            lambda: f"Request id {uuid.UUID(int=rng.getrandbits(128), version=4)} failed with 502.",
            lambda: (
                f"DELETE /api/v1/users/{uuid.UUID(int=rng.getrandbits(128), version=4)} returned 204."
            ),
        ],
        "price": [
            lambda: f"The total is ${r(1, 9)},{r(100, 999)}.{r(10, 99)} including tax.",
            lambda: f"Price: {r(1, 999)} {r(100, 999)},{r(10, 99)} EUR for {r(2, 9)} licences.",
            lambda: (
                f"Revenue grew from $ {r(1000, 9999)} {r(100, 999)} to $ {r(1000, 9999)} {r(100, 999)}."
            ),
        ],
        "date": [
            lambda: (
                f"The meeting moved from {moment(fake).strftime('%Y-%m-%d')} to {moment(fake).strftime('%d.%m.%Y')}."
            ),
            lambda: (
                f"Valid {moment(fake).strftime('%m/%d/%Y')} - {moment(fake).strftime('%m/%d/%Y')} only."
            ),
            lambda: f"Between {r(1950, 2024)}-{r(1950, 2024)} the population doubled.",
        ],
        "code_lines": [
            lambda: f'  File "app/models.py", line {r(10, 3000)}, in save\n    self.full_clean()',
            lambda: f"src/main.rs:{r(1, 999)}:{r(1, 80)}: error[E0308]: mismatched types",
            lambda: f"for i in range({r(1000, 99999)}):\n    total += i * {r(2, 999)}",
            lambda: f"x = [{r(100, 999)}, {r(100, 999)}, {r(100, 999)}, {r(1000, 9999)}]",
        ],
        "git_sha": [
            lambda: f"Reverted commit {hexs(40)} because it broke the build.",
            lambda: f"Cherry-pick {hexs(7)} and {hexs(12)} onto release/{r(1, 9)}.{r(0, 9)}.",
        ],
        "misc": [
            lambda: (
                f"The part number is {r(100, 999)}-{r(10, 99)}-{r(1000, 9999)} in the catalogue."
            ),
            lambda: f"Ship to zip {r(10000, 99999)}-{r(1000, 9999)}, attention receiving.",
            lambda: (
                f"Coordinates: {r(-89, 89)}.{r(100000, 999999)}, {r(-179, 179)}.{r(100000, 999999)}"
            ),
            lambda: (
                f"The file is {r(100, 999)} {r(100, 999)} {r(100, 999)} bytes after compression."
            ),
            lambda: f"Colour #{hexs(6)} on a {r(1000, 4000)}x{r(600, 2400)} canvas.",
            lambda: f"Listen on port {r(1024, 65535)}; the pid is {r(1000, 99999)}.",
            lambda: f"MAC {':'.join(hexs(2) for _ in range(6))} registered on VLAN {r(2, 4094)}.",
            lambda: (
                f"Use std::vector<int> and a::b::c in C++, ratio {r(1, 9)}:{r(1, 9)}:{r(1, 9)}."
            ),
            lambda: (
                f"Retina assets: icon@2x.png and logo@3x.png, npm i lodash@{r(1, 4)}.{r(0, 17)}.{r(0, 21)}."
            ),
            lambda: f"git clone git@github.com:acme/tool{r(1, 99)}.git then run make -j{r(2, 16)}.",
            lambda: f"Section {r(1, 9)}.{r(1, 9)}.{r(1, 9)}.{r(1, 9)} of the spec covers retries.",
            lambda: (
                f"The SKU {r(10**11, 10**12)} is out of stock; batch {r(1000, 9999)}-{r(1000, 9999)}."
            ),
        ],
    }
    rows = [{"text": text, "kind": "handwritten"} for text in HANDWRITTEN_NEGATIVES]
    for kind, templates in makers.items():
        for make in templates:
            for _ in range(12):
                rows.append({"text": make(), "kind": kind})
    return rows


def main() -> None:
    rng = random.Random(SEED)
    Faker.seed(SEED)
    fakers = {loc: Faker(loc) for loc in {"en_US", *PHONE_LOCALES, *IBAN_LOCALES}}
    for i, loc in enumerate(sorted(fakers)):
        fakers[loc].seed_instance(SEED + i)
    for name, rows in (
        ("faker_en.jsonl", sentences(rng, fakers)),
        ("hard_negatives.jsonl", hard_negatives(rng, fakers["en_US"])),
    ):
        with (HERE / name).open("w") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(name, len(rows))


if __name__ == "__main__":
    main()
