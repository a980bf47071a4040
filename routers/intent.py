"""Intent classification for `route_by: intent`: which intent an utterance belongs to, and how
sure we are. Lexical, offline, built once from the policy file's intents; `classify` is pure.

The model, and why:

- Features (`routers.text_features`): stemmed content words, built-in concept cues and
  in-word character 4-grams. Stems and grams carry paraphrases that share a root ("summarise",
  "summary"); the cues carry those that share only a topic ("in Spanish" ~ "translate").
- Each intent is a profile: for every feature, the share of its examples (keywords and the
  intent's name count as one more, boosted, example) that hold it, weighted by an inverse
  *intent* frequency, so a word every intent uses ("this", "make") counts for little.
- Similarity is cosine for words and for grams, each against the profile and against the
  closest single example (a paraphrase of one example must not be drowned by the other four),
  plus topic evidence from the cues the utterance shares with the intent's examples; an intent
  no cue covers is scored on words and grams alone, rescaled to the same range.
- Confidence squashes the best similarity and its margin over the runner-up through a logistic
  curve whose constants were set on `tests/data/intents_tune.jsonl` only; 0.5 is the intended
  threshold. Small talk shares no topic word with any intent, so it scores ~0.

An inverted index (feature -> postings) keeps a call linear in the utterance's length.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from routers.text_features import CONCEPT_PREFIX, features

__all__ = ["IntentClassifier", "IntentMatch", "IntentSpec"]

# How much each space adds to the similarity: stems, character n-grams, concept cues.
_WORD_WEIGHT = 0.45
_GRAM_WEIGHT = 0.2
_CUE_WEIGHT = 0.35
# Keywords (and the intent's name) count as this many examples' worth of evidence.
_KEYWORD_BOOST = 2.0
# Similarity = mix of profile (centroid) and best single example.
_PROFILE_SHARE = 0.5
# Calibration (fitted on the tuning split, see bench/routing.py): logistic in
# (similarity - centre) and the margin over the runner-up.
_CENTRE = 0.16
_SLOPE = 22.0
_MARGIN_SLOPE = 10.0
# A long utterance is read as its head and its tail: the request is usually stated at the start
# ("summarise this: ...") or at the end ("... translate the above"); the middle adds cost.
_HEAD_CHARS = 400
_TAIL_CHARS = 200


@dataclass(frozen=True, slots=True)
class IntentSpec:
    name: str
    examples: tuple[str, ...]
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IntentMatch:
    """The best intent (None: no intent, or below the threshold) and a confidence in [0, 1]."""

    name: str | None
    confidence: float


# A sparse vector: feature -> weight, and its Euclidean norm.
_Vector = dict[str, float]


def _norm(vector: Mapping[str, float]) -> float:
    return math.sqrt(sum(w * w for w in vector.values()))


def _coerce(item: object) -> IntentSpec:
    """An `IntentSpec` from an object with `name`/`examples`/`keywords` attributes (a config
    Struct), a mapping with those keys, or a `(name, examples[, keywords])` tuple."""
    if isinstance(item, IntentSpec):
        return item
    if isinstance(item, Mapping):
        name, examples, keywords = item.get("name"), item.get("examples"), item.get("keywords")
    elif isinstance(item, tuple):
        name, examples, keywords = (*item, None)[:3] if len(item) >= 2 else (None, None, None)
    else:
        name = getattr(item, "name", None)
        examples = getattr(item, "examples", None)
        keywords = getattr(item, "keywords", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"an intent needs a non-empty `name`, got {item!r}")
    if not isinstance(examples, Iterable) or isinstance(examples, str):
        raise ValueError(f"intent {name!r}: `examples` must be a list of strings")
    if keywords is None or not isinstance(keywords, Iterable) or isinstance(keywords, str):
        keywords = ()
    return IntentSpec(
        name=name,
        examples=tuple(str(e) for e in examples),
        keywords=tuple(str(k) for k in keywords),
    )


class _Space:
    """One feature space (words or grams): idf-weighted, L2-normalised vectors per intent
    profile and per example, behind an inverted index."""

    def __init__(self, profiles: list[_Vector], examples: list[tuple[int, _Vector]]) -> None:
        n_intents = len(profiles)
        df: dict[str, int] = {}
        for profile in profiles:
            for feature in profile:
                df[feature] = df.get(feature, 0) + 1
        self.idf = {f: math.log(1.0 + n_intents / d) for f, d in df.items()}
        # Unknown features weigh like the rarest known ones: they dilute, they never match.
        self.unseen_idf = math.log(1.0 + n_intents)
        self.n_intents = n_intents
        self.owners = [owner for owner, _ in examples]
        self.profile_postings = self._index([self._weigh(p) for p in profiles])
        self.example_postings = self._index([self._weigh(v) for _, v in examples])

    def _weigh(self, vector: _Vector) -> _Vector:
        weighted = {f: w * self.idf.get(f, self.unseen_idf) for f, w in vector.items()}
        norm = _norm(weighted) or 1.0
        return {f: w / norm for f, w in weighted.items()}

    @staticmethod
    def _index(vectors: list[_Vector]) -> dict[str, list[tuple[int, float]]]:
        postings: dict[str, list[tuple[int, float]]] = {}
        for i, vector in enumerate(vectors):
            for feature, weight in vector.items():
                postings.setdefault(feature, []).append((i, weight))
        return postings

    def similarities(self, query: _Vector) -> list[float]:
        """Per intent: a mix of cosine to its profile and to its closest example."""
        idf, unseen = self.idf, self.unseen_idf
        weighted = {f: (1.0 + math.log(c)) * idf.get(f, unseen) for f, c in query.items()}
        norm = _norm(weighted)
        profile = [0.0] * self.n_intents
        if norm == 0.0:
            return profile
        by_example = [0.0] * len(self.owners)
        for feature, weight in weighted.items():
            for i, w in self.profile_postings.get(feature, ()):
                profile[i] += weight * w
            for j, w in self.example_postings.get(feature, ()):
                by_example[j] += weight * w
        best = [0.0] * self.n_intents
        for j, score in enumerate(by_example):
            owner = self.owners[j]
            best[owner] = max(best[owner], score)
        share = _PROFILE_SHARE
        return [(share * p + (1.0 - share) * b) / norm for p, b in zip(profile, best, strict=True)]


def _add(into: _Vector, vector: Mapping[str, float], scale: float = 1.0) -> None:
    for feature, weight in vector.items():
        into[feature] = into.get(feature, 0.0) + weight * scale


def _split(words: _Vector) -> tuple[_Vector, _Vector]:
    """(stems, concept cues with their strength) of a word-feature map."""
    cues = {f: w for f, w in words.items() if f.startswith(CONCEPT_PREFIX)}
    return {f: w for f, w in words.items() if f not in cues}, cues


class _Concepts:
    """Topic evidence: the share of an intent's examples holding each cue the utterance holds,
    times how exclusively that cue belongs to the intent (a cue shared by two intents is half
    the evidence for each)."""

    def __init__(self, shares: list[dict[str, float]]) -> None:
        total: dict[str, float] = {}
        for share in shares:
            for cue, value in share.items():
                total[cue] = total.get(cue, 0.0) + value
        self.evidence: dict[str, list[tuple[int, float]]] = {}
        for i, share in enumerate(shares):
            for cue, value in share.items():
                self.evidence.setdefault(cue, []).append((i, value * value / total[cue]))
        self.n_intents = len(shares)

    def similarities(self, cues: Mapping[str, float]) -> list[float]:
        out = [0.0] * self.n_intents
        for cue, strength in cues.items():
            for i, value in self.evidence.get(cue, ()):
                out[i] += value * strength
        # Two cues that point at one intent are stronger than one, but saturate.
        return [1.0 - math.exp(-1.5 * v) for v in out]


class IntentClassifier:
    """Built once from the configured intents; `classify` is pure and thread-safe.

    `concept_cues=False` turns off the built-in topic vocabulary (examples and keywords only),
    which is how the bench measures what the examples alone are worth.
    """

    def __init__(self, intents: Iterable[object], *, concept_cues: bool = True) -> None:
        specs = tuple(_coerce(item) for item in intents)
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"intent names must be unique, got {names}")
        self.intents: tuple[IntentSpec, ...] = specs
        self._use_cues = concept_cues
        word_profiles: list[_Vector] = []
        gram_profiles: list[_Vector] = []
        cue_shares: list[dict[str, float]] = []
        word_examples: list[tuple[int, _Vector]] = []
        gram_examples: list[tuple[int, _Vector]] = []
        for i, spec in enumerate(specs):
            words: _Vector = {}
            grams: _Vector = {}
            cues: _Vector = {}
            for text in spec.examples:
                all_words, g = features(text)
                w, c = _split(all_words)
                word_examples.append((i, w))
                gram_examples.append((i, g))
                # Presence, not count: the share of examples that hold a feature.
                _add(words, dict.fromkeys(w, 1.0))
                _add(grams, dict.fromkeys(g, 1.0))
                _add(cues, c)
            # Keywords and the name: one boosted pseudo-example, and one example each.
            cue_text = " ".join([*spec.keywords, spec.name.replace("_", " ")])
            all_words, g = features(cue_text)
            w, c = _split(all_words)
            _add(words, w, _KEYWORD_BOOST)
            _add(grams, g, _KEYWORD_BOOST)
            _add(cues, c)
            for keyword in spec.keywords:
                kw, kg = features(keyword)
                kw, _ = _split(kw)
                if kw:
                    word_examples.append((i, kw))
                    gram_examples.append((i, kg))
            scale = 1.0 / max(1, len(spec.examples))
            word_profiles.append({f: v * scale for f, v in words.items()})
            gram_profiles.append({f: v * scale for f, v in grams.items()})
            cue_count = len(spec.examples) + 1
            cue_shares.append({f: min(1.0, v / cue_count) for f, v in cues.items()})
        self._words = _Space(word_profiles, word_examples)
        self._grams = _Space(gram_profiles, gram_examples)
        if not concept_cues:
            cue_shares = [{} for _ in specs]
        self._concepts = _Concepts(cue_shares)
        # An intent no built-in cue covers is judged on words and grams alone, on the same scale.
        self._scale = [
            1.0 / (_WORD_WEIGHT + _GRAM_WEIGHT + (_CUE_WEIGHT if shares else 0.0))
            for shares in cue_shares
        ]

    def scores(self, text: str) -> list[float]:
        """Raw similarity per intent (in `self.intents` order), each in [0, 1]."""
        if not self.intents:
            return []
        if len(text) > _HEAD_CHARS + _TAIL_CHARS:
            text = f"{text[:_HEAD_CHARS]}\n{text[-_TAIL_CHARS:]}"
        all_words, grams = features(text)
        words, cues = _split(all_words)
        by_word = self._words.similarities(words)
        by_gram = self._grams.similarities(grams)
        by_cue = self._concepts.similarities(cues)
        return [
            min(1.0, k * (_WORD_WEIGHT * w + _GRAM_WEIGHT * g + _CUE_WEIGHT * c))
            for w, g, c, k in zip(by_word, by_gram, by_cue, self._scale, strict=True)
        ]

    def classify(self, text: str) -> IntentMatch:
        """The most similar intent and a calibrated confidence (0 when nothing matches)."""
        scores = self.scores(text)
        if not scores:
            return IntentMatch(name=None, confidence=0.0)
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        top = scores[order[0]]
        if top <= 0.0:
            return IntentMatch(name=None, confidence=0.0)
        runner_up = scores[order[1]] if len(order) > 1 else 0.0
        return IntentMatch(name=self.intents[order[0]].name, confidence=_calibrate(top, runner_up))

    def route(self, text: str, threshold: float) -> IntentMatch:
        """`classify`, with the name dropped (None) when the confidence is below `threshold`."""
        match = self.classify(text)
        if match.confidence < threshold:
            return IntentMatch(name=None, confidence=match.confidence)
        return match


def _calibrate(top: float, runner_up: float) -> float:
    z = _SLOPE * (top - _CENTRE) + _MARGIN_SLOPE * (top - runner_up) - 1.0
    if z < -60.0:
        return 0.0
    return round(1.0 / (1.0 + math.exp(-z)), 6)
