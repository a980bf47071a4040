"""Prompt-injection scoring for user turns, tool results and retrieved documents: fold the
disguises away, match weighted lexical and structural signals in twelve languages, and
return a calibrated score; a model-based `InjectionClassifier` can be plugged behind it."""

from policies.injection.detector import InjectionDetector
from policies.injection.normalize import fold
from policies.injection.verdict import InjectionClassifier, InjectionVerdict

__all__ = ["InjectionClassifier", "InjectionDetector", "InjectionVerdict", "fold"]
