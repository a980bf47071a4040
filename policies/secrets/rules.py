"""The rule table: every credential type the secrets detector knows, in scan order."""

from __future__ import annotations

from policies.secrets.context_rules import KEYED, STRUCTURED
from policies.secrets.generic_rules import GENERIC
from policies.secrets.rule import Rule
from policies.secrets.service_rules import LLM, MESSAGING, PAYMENT
from policies.secrets.token_rules import CHAT, CLOUD, VCS

# Specific rules first: of two findings with the same span the stage keeps the higher
# score, and generic rules score lower, so `api_key=sk-...` reports OPENAI_API_KEY.
RULES: tuple[Rule, ...] = (
    *CLOUD,
    *KEYED,
    *VCS,
    *CHAT,
    *PAYMENT,
    *MESSAGING,
    *LLM,
    *STRUCTURED,
    *GENERIC,
)
