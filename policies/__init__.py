"""Security policy stages. Each returns a verdict; the pipeline acts on it."""

from policies.base import Allow, Deny, RequestStage, Transform, Verdict

__all__ = ["Allow", "Deny", "RequestStage", "Transform", "Verdict"]
