"""The policy file's content-security types: named policy sets (`policies:`) that routes and
keys select, each a set of stages (injection, PII, secrets, output links, tool arguments)."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, field

from gateway.settings.base_types import Config, Share

EntityName = Annotated[str, Meta(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")]
Channel = Literal["user", "tool", "document"]
# `flag` lets the request through and names the stage in `x-gateway-flagged`.
BlockAction = Literal["block", "flag", "off"]


class InjectionPolicy(Config, frozen=True):
    """Prompt injection in user turns, tool results and retrieved passages (`<document>`
    wrappers): refused with 400 `prompt_injection_detected` at or above `threshold`."""

    # `block` (400 `prompt_injection_detected`), `flag` (let through, named in
    # `x-gateway-flagged`) or `off`.
    action: BlockAction = "block"
    # The score (0..1) at or above which a text counts as an injection.
    threshold: Share = 0.5
    # The texts scored: `user` turns, `tool` results, `document` passages.
    channels: list[Channel] = field(default_factory=lambda: ["user", "tool", "document"])


# What presidio's spaCy recognizer finds with a trained pipeline (`pii.spacy_model`).
NER_ENTITIES = ("PERSON", "LOCATION", "NRP", "DATE_TIME", "ORGANIZATION")
DEFAULT_PII_ENTITIES = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "US_SSN",
)


class CustomEntity(Config, frozen=True):
    """A site-specific identifier: a regular expression, or a list of exact terms."""

    # The entity's name (upper case): what findings report and `redact` writes (`<NAME>`).
    name: EntityName
    # A Python regular expression, matched as written (set this or `deny_list`).
    regex: Annotated[str, Meta(min_length=1, max_length=1000)] | None = None
    # Exact terms (names, code words), matched as whole words, case-insensitively.
    deny_list: list[Annotated[str, Meta(min_length=1)]] = field(default_factory=list)


class PiiPolicy(Config, frozen=True):
    """Personal data (presidio, offline). `input`: what reaches the model; `output`: what
    reaches the client (JSON and streams)."""

    # The prompt: `redact` (`<EMAIL_ADDRESS>`), `mask` (`****1234`), `block` (400
    # `pii_detected`), `pseudonymize` (`<EMAIL_ADDRESS_1>`, restored in the answer), `flag`,
    # `off`.
    input: Literal["off", "redact", "mask", "block", "pseudonymize", "flag"] = "off"
    # The answer (JSON and streams): `redact`, `flag` or `off`.
    output: Literal["off", "redact", "flag"] = "off"
    # Entity types detected (default: email, phone, card, IBAN, IP address, US SSN); the NER
    # ones (PERSON, LOCATION, NRP, DATE_TIME, ORGANIZATION) need `spacy_model`.
    entities: list[EntityName] = field(default_factory=lambda: list(DEFAULT_PII_ENTITIES))
    # Site-specific entities (a `regex` or a `deny_list` each), detected besides `entities`.
    custom: list[CustomEntity] = field(default_factory=list)
    # Findings below this presidio score are ignored.
    threshold: Share = 0.5
    # An installed spaCy package (`en_core_web_lg`) or model directory: the NER entities
    # (NER_ENTITIES) need one; without it they are not detected and `gateway check` warns.
    # Never downloaded: install it like any package.
    spacy_model: Annotated[str, Meta(min_length=1, max_length=500)] | None = None


class SecretsPolicy(Config, frozen=True):
    """Credentials (cloud, VCS, chat, payment and LLM-provider keys, JWTs, private keys,
    connection strings with passwords, high-entropy assignments)."""

    # Credentials in the prompt: `block` (400 `secret_detected`), `redact` (`<KIND>`), `flag`
    # or `off`.
    input: Literal["block", "redact", "flag", "off"] = "block"
    # Credentials in the answer (JSON and streams): `redact`, `flag` or `off`.
    output: Literal["redact", "flag", "off"] = "redact"


class LinksPolicy(Config, frozen=True):
    """Markdown images and links in model output whose URL could carry data out: a query
    string with a long or encoded payload, or a host outside `allow_hosts` (when set)."""

    # `strip` (images removed, links keep their text), `flag` or `off`.
    action: Literal["strip", "flag", "off"] = "strip"
    # Hosts (subdomains included) links may point to; set: any other host is suspicious too.
    allow_hosts: list[Annotated[str, Meta(min_length=1)]] = field(default_factory=list)


class PolicySet(Config, frozen=True):
    """One named set of content-policy stages; a stage left unset is not checked."""

    # Prompt injection in what reaches the model (unset: not checked).
    injection: InjectionPolicy | None = None
    # Personal data in the prompt and the answer (unset: not checked).
    pii: PiiPolicy | None = None
    # Credentials in the prompt and the answer (unset: not checked).
    secrets: SecretsPolicy | None = None
    # Data-carrying links and images in the answer (unset: not checked).
    links: LinksPolicy | None = None
    # Client-bound tool calls whose arguments do not match the tool's JSON Schema.
    tool_arguments: Literal["block", "flag", "off"] = "off"
    # A detector that fails or overruns `timeout_seconds`: `fail_closed` (503) or
    # `fail_open` (the request goes on unchecked by that stage; logged).
    on_error: Literal["fail_closed", "fail_open"] = "fail_closed"
    # Seconds one detector scan off the event loop may take before `on_error` applies.
    timeout_seconds: Annotated[float, Meta(gt=0, le=60)] = 2.0


class Audit(Config, frozen=True):
    """Security events, one JSON line each (never the matched text): `stderr` or a file."""

    # `stderr`, or a file path the events are appended to (opened at start-up).
    destination: Annotated[str, Meta(min_length=1)] = "stderr"
