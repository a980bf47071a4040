"""The concrete detectors and output stages of content policy sets, for the composition
root: which class serves each stage, built from the policy file's values."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gateway.pipeline.policy_book import DetectorFactory, pii_config
from gateway.settings.content_policies import PolicySet
from policies.audit import AuditLog
from policies.base import ResponseStage
from policies.findings import SpanDetector
from policies.links import LinkDetector
from policies.links import replacement as link_replacement
from policies.tool_arguments import ToolArgumentsStage

log = logging.getLogger("gateway.policies")
# The fewest characters a stream scan of PII and secrets releases: a scan per token chunk
# costs ~150 us on a 3 KB answer in 2-6 character chunks, one per 32 characters ~20 us;
# the first text already waits for the detectors' hold-back (128+ characters).
REDACTION_STEP = 32


def detector_builders() -> dict[str, Callable[[Any], Any]]:
    # Imported when first built: a policy file without PII never loads presidio.
    def injection(_config: Any) -> Any:
        from policies.injection.detector import InjectionDetector

        return InjectionDetector()

    def secrets(_config: Any) -> Any:
        from policies.secrets.detector import SecretDetector

        return SecretDetector()

    def pii(config: Any) -> Any:
        from policies.pii.detector import PiiDetector

        entities, custom, threshold, spacy_model = config
        patterns = [(name, regex) for name, regex, _ in custom if regex is not None]
        deny = {name: list(terms) for name, regex, terms in custom if regex is None}
        detector = PiiDetector(
            list(entities),
            custom=patterns,
            deny_lists=deny or None,
            threshold=threshold,
            spacy_model=spacy_model,
        )
        if detector.unsupported:
            log.warning(
                "pii: nothing here detects %s (the NER entities need `pii.spacy_model`); "
                "they are not redacted",
                ", ".join(sorted(detector.unsupported)),
            )
        return detector

    def links(config: Any) -> Any:
        return LinkDetector(config)

    return {"injection": injection, "secrets": secrets, "pii": pii, "links": links}


def output_stages(
    policy: PolicySet, detectors: DetectorFactory, audit: AuditLog
) -> list[ResponseStage]:
    """In order: redaction of what the model wrote, the request's pseudonyms restored,
    data-carrying links stripped, tool-call arguments checked."""
    stages: list[ResponseStage] = []
    redacting: list[SpanDetector] = []
    flagging: list[SpanDetector] = []
    if policy.secrets is not None and policy.secrets.output != "off":
        chosen = redacting if policy.secrets.output == "redact" else flagging
        chosen.append(detectors.get("secrets"))
    if policy.pii is not None and policy.pii.output != "off":
        chosen = redacting if policy.pii.output == "redact" else flagging
        chosen.append(detectors.get("pii", pii_config(policy)))
    if redacting or flagging:
        from policies.output_redaction import OutputRedactionStage

        stages.append(
            OutputRedactionStage(redacting, audit=audit, flag_only=flagging, step=REDACTION_STEP)
        )
    if policy.pii is not None and policy.pii.input == "pseudonymize":
        from policies.pseudonym_restore import PseudonymRestoreStage

        stages.append(PseudonymRestoreStage())
    if policy.links is not None and policy.links.action != "off":
        detector = detectors.get("links", tuple(policy.links.allow_hosts))
        strip = policy.links.action == "strip"
        from policies.output_redaction import OutputRedactionStage

        stages.append(
            OutputRedactionStage(
                [detector] if strip else [],
                audit=audit,
                flag_only=[] if strip else [detector],
                write=link_replacement,
            )
        )
    if policy.tool_arguments != "off":
        stages.append(ToolArgumentsStage(policy.tool_arguments, audit))
    return stages
