"""Credential detection: a rule table of vendor formats, key-named values, PEM blocks,
JWTs and connection strings, behind the `SpanDetector` interface."""

from policies.secrets.detector import MAX_SPAN, SecretDetector
from policies.secrets.rule import Rule
from policies.secrets.rules import RULES

__all__ = ["MAX_SPAN", "RULES", "Rule", "SecretDetector"]
