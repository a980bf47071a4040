"""Blocks of a parsed document -> chunks of about `chunk_tokens` tokens.

A chunk never straddles a section (a heading path, or a PDF page): citations then name one
place. Inside a section, paragraphs are packed whole while they fit; a paragraph that does
not fit is packed sentence by sentence (a sentence longer than a chunk, word by word). A code
block is kept whole when it fits a chunk, else cut at line boundaries. When a section runs
over one chunk, the next chunk repeats the previous one's last sentences (up to
`overlap_tokens`) so that a fact cut at the boundary is still whole in one of them.

Token counts come from a `count_tokens(text) -> int` callable: the embedder's tokenizer in
production; `approx_tokens` (a word-piece-like estimate) by default.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Literal

CountTokens = Callable[[str], int]
BlockKind = Literal["text", "code"]

_PIECES = re.compile(r"\w+|[^\w\s]")
# A sentence ends at . ! ? (and closing quotes/brackets) followed by space and a capital,
# digit or opening quote; the abbreviations below never end one.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.", "Dr.", "Mr.", "Ms.", "Fig.", "Eq.", "al.")


def approx_tokens(text: str) -> int:
    """About what a WordPiece/BPE tokenizer counts: one per word or punctuation mark, one
    more per 6 letters beyond the first 6 of a long word (long words split into pieces)."""
    return sum(1 + max(0, len(p) - 1) // 6 for p in _PIECES.findall(text))


@dataclass(frozen=True)
class Block:
    """One structural unit of a document: a paragraph, list item, table or code block."""

    text: str
    headings: tuple[str, ...] = ()
    kind: BlockKind = "text"
    page: int | None = None  # 1-based, PDFs only
    line: int | None = None  # 1-based first line in the source, when known


@dataclass(frozen=True)
class Chunk:
    text: str
    headings: tuple[str, ...]
    page: int | None
    line: int | None
    ordinal: int  # position in the document, from 0
    tokens: int

    @property
    def location(self) -> str:
        """What a model cites: page and heading path, else the first line, else the part."""
        parts = []
        if self.page is not None:
            parts.append(f"page {self.page}")
        if self.headings:
            parts.append(" > ".join(self.headings))
        if not parts:
            parts.append(
                f"line {self.line}" if self.line is not None else f"part {self.ordinal + 1}"
            )
        return ", ".join(parts)


@dataclass
class _Unit:
    """A packable piece: a sentence of a paragraph, or a code block (or part of one)."""

    text: str
    tokens: int
    kind: BlockKind
    line: int | None
    paragraph: int  # units of one paragraph share it; joined with a space, others with \n\n


@dataclass
class _Packer:
    budget: int
    overlap: int
    units: list[_Unit] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(u.tokens for u in self.units)

    def text(self) -> str:
        out: list[str] = []
        for _, group in groupby(self.units, key=lambda u: u.paragraph):
            members = list(group)
            sep = "\n" if members[0].kind == "code" else " "
            out.append(sep.join(u.text for u in members))
        return "\n\n".join(out)

    def carry(self) -> list[_Unit]:
        """The trailing sentences (not code) of the chunk just cut, within `overlap`."""
        tail: list[_Unit] = []
        total = 0
        for unit in reversed(self.units):
            if unit.kind == "code" or total + unit.tokens > self.overlap:
                break
            tail.insert(0, unit)
            total += unit.tokens
        return tail


def split_sentences(text: str) -> list[str]:
    parts = _SENTENCE_END.split(text.strip())
    out: list[str] = []
    for part in parts:
        # Glue back a split made after an abbreviation ("e.g. The ...").
        if out and out[-1].endswith(_ABBREVIATIONS):
            out[-1] = f"{out[-1]} {part}"
        elif part:
            out.append(part)
    return out


def _split_word(word: str, budget: int, count: CountTokens) -> Iterator[str]:
    """A "word" over the budget (a long URL, a run of symbols), cut into pieces that fit."""
    piece = ""
    for char in word:
        if piece and count(piece + char) > budget:
            yield piece
            piece = ""
        piece += char
    if piece:
        yield piece


def _split_words(text: str, budget: int, count: CountTokens) -> Iterator[str]:
    words: list[str] = []
    for word in text.split():
        for part in [word] if count(word) <= budget else _split_word(word, budget, count):
            if words and count(" ".join([*words, part])) > budget:
                yield " ".join(words)
                words = []
            words.append(part)
    if words:
        yield " ".join(words)


def _split_lines(text: str, budget: int, count: CountTokens) -> Iterator[str]:
    lines: list[str] = []
    for line in text.split("\n"):
        if lines and count("\n".join([*lines, line])) > budget:
            yield "\n".join(lines)
            lines = []
        lines.append(line)
    if lines:
        yield "\n".join(lines)


def _units(blocks: Iterable[Block], budget: int, count: CountTokens) -> Iterator[_Unit]:
    for paragraph, block in enumerate(blocks):
        tokens = count(block.text)
        if block.kind == "code":
            pieces = (
                [block.text] if tokens <= budget else list(_split_lines(block.text, budget, count))
            )
            for piece in pieces:
                # A single over-long line still has to fit the embedder's window.
                for part in (
                    [piece] if count(piece) <= budget else _split_words(piece, budget, count)
                ):
                    yield _Unit(part, count(part), "code", block.line, paragraph)
            continue
        for sentence in split_sentences(block.text):
            n = count(sentence)
            parts = [sentence] if n <= budget else list(_split_words(sentence, budget, count))
            for part in parts:
                yield _Unit(
                    part, n if len(parts) == 1 else count(part), "text", block.line, paragraph
                )


def _paragraph_tokens(units: Sequence[_Unit], start: int) -> int:
    paragraph = units[start].paragraph
    total = 0
    for unit in units[start:]:
        if unit.paragraph != paragraph:
            break
        total += unit.tokens
    return total


def _pack(units: list[_Unit], budget: int, overlap: int) -> Iterator[tuple[str, int, int | None]]:
    """(text, tokens, first line) of each chunk of one section."""
    packer = _Packer(budget, overlap)
    for i, unit in enumerate(units):
        starts_paragraph = i == 0 or units[i - 1].paragraph != unit.paragraph
        used = packer.tokens
        # Prefer a cut before a paragraph that would not fit whole, once the chunk is at
        # least half full; otherwise fill up sentence by sentence.
        cut = used + unit.tokens > budget or (
            starts_paragraph and used >= budget // 2 and used + _paragraph_tokens(units, i) > budget
        )
        if cut and packer.units:
            yield packer.text(), used, packer.units[0].line
            carried = packer.carry()
            if sum(u.tokens for u in carried) + unit.tokens > budget:
                carried = []
            packer.units = carried
        packer.units.append(unit)
    if packer.units:
        yield packer.text(), packer.tokens, packer.units[0].line


def chunk_blocks(
    blocks: Iterable[Block],
    *,
    chunk_tokens: int = 200,
    count_tokens: CountTokens = approx_tokens,
    overlap_tokens: int | None = None,
) -> list[Chunk]:
    """Chunks in document order. `overlap_tokens` defaults to a tenth of `chunk_tokens`."""
    if chunk_tokens < 8:
        raise ValueError("chunk_tokens must be at least 8")
    overlap = chunk_tokens // 10 if overlap_tokens is None else overlap_tokens
    chunks: list[Chunk] = []
    sections = groupby((b for b in blocks if b.text.strip()), key=lambda b: (b.headings, b.page))
    for (headings, page), members in sections:
        units = list(_units(members, chunk_tokens, count_tokens))
        for text, tokens, line in _pack(units, chunk_tokens, overlap):
            chunks.append(Chunk(text, headings, page, line, len(chunks), tokens))
    return chunks
