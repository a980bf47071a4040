"""Document bytes -> structural `Block`s (paragraphs, list items, code, tables) with headings.

Markdown through markdown-it-py (CommonMark + tables; block text is taken verbatim from the
source lines its tokens map, so lists and tables keep their markup), HTML through the
stdlib `html.parser` (headings, block elements, `<pre>` as code; scripts, styles and
navigation dropped), PDF through pypdf (page by page, then paragraphs), anything else as
plain text split on blank lines. A document that cannot be read raises `UnreadableError`
with a message for the ingest summary.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import PurePath

from tools.rag.chunking import Block, BlockKind

MARKDOWN = frozenset({".md", ".markdown", ".mdx"})
HTML = frozenset({".html", ".htm", ".xhtml"})
TEXT = frozenset({".txt", ".text", ".rst", ".log", ".csv"})
PDF = frozenset({".pdf"})
SUPPORTED = MARKDOWN | HTML | TEXT | PDF

_BLANK_LINES = re.compile(r"\n\s*\n")
_SPACES = re.compile(r"\s+")


class UnreadableError(ValueError):
    """The document is corrupt, binary or holds no text; the message says which."""


def kind_of(name: str) -> str | None:
    """'markdown', 'html', 'text', 'pdf', or None for an unsupported file type."""
    suffix = PurePath(name).suffix.lower()
    for kind, suffixes in (("markdown", MARKDOWN), ("html", HTML), ("text", TEXT), ("pdf", PDF)):
        if suffix in suffixes:
            return kind
    return None


def parse_document(name: str, data: bytes) -> list[Block]:
    kind = kind_of(name)
    if kind is None:
        raise UnreadableError(f"unsupported file type {PurePath(name).suffix or '(none)'!r}")
    if kind == "pdf":
        return pdf_blocks(data)
    parsers: dict[str, Callable[[str], list[Block]]] = {
        "markdown": markdown_blocks,
        "html": html_blocks,
        "text": text_blocks,
    }
    return parsers[kind](decode_text(data))


def decode_text(data: bytes) -> str:
    # NUL bytes never occur in text files but are common in binaries renamed .txt.
    if b"\x00" in data[:8192]:
        raise UnreadableError("binary content (NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableError(f"not UTF-8 text (invalid byte at offset {exc.start})") from exc


def text_blocks(text: str) -> list[Block]:
    blocks = []
    line = 1
    pos = 0
    for match in [*_BLANK_LINES.finditer(text), None]:
        end = match.start() if match else len(text)
        para = text[pos:end]
        if para.strip():
            lead = len(para) - len(para.lstrip("\n"))
            blocks.append(Block(para.strip(), line=line + text.count("\n", pos, pos + lead)))
        if match:
            line += text.count("\n", pos, match.end())
            pos = match.end()
    return blocks


def markdown_blocks(text: str) -> list[Block]:
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    lines = text.splitlines()
    headings: list[tuple[int, str]] = []
    blocks: list[Block] = []

    def source(span: list[int]) -> str:
        return "\n".join(lines[span[0] : span[1]]).strip()

    for i, token in enumerate(tokens):
        if token.map is None:
            continue
        if token.type == "heading_open":
            level = int(token.tag[1])
            headings = [h for h in headings if h[0] < level]
            headings.append((level, tokens[i + 1].content.strip()))
            continue
        path = tuple(h for _, h in headings)
        line = token.map[0] + 1
        if token.type in ("fence", "code_block"):
            blocks.append(Block(token.content.rstrip("\n"), path, "code", line=line))
        elif token.type == "list_item_open" and token.level == 1:
            # Items of a top-level list are packed one by one, never cut mid-item if they fit.
            blocks.append(Block(source(token.map), path, line=line))
        elif token.level == 0 and token.nesting in (0, 1) and not token.type.endswith("list_open"):
            if token.type in ("hr",):
                continue
            blocks.append(Block(source(token.map), path, line=line))
    return [b for b in blocks if b.text]


class _HtmlBlocks(HTMLParser):
    SKIP = frozenset({"script", "style", "noscript", "template", "head", "nav", "svg"})
    BLOCK = frozenset(
        {
            "p", "div", "li", "dd", "dt", "td", "th", "tr", "table", "ul", "ol", "section",
            "article", "aside", "blockquote", "figcaption", "header", "footer", "main",
            "br", "hr", "form", "details", "summary", "body",
        }
    )  # fmt: skip
    HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self._headings: list[tuple[int, str]] = []
        self._text: list[str] = []
        self._skip = 0
        self._pre = 0
        self._heading: int | None = None

    def _flush(self, kind: BlockKind = "text") -> None:
        raw = "".join(self._text)
        self._text = []
        text = raw.strip("\n") if kind == "code" else _SPACES.sub(" ", raw).strip()
        if not text:
            return
        if self._heading is not None:
            self._headings = [h for h in self._headings if h[0] < self._heading]
            self._headings.append((self._heading, text))
            return
        path = tuple(h for _, h in self._headings)
        self.blocks.append(Block(text, path, kind, line=self.getpos()[0]))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip += 1
        elif self._skip:
            return
        elif tag == "pre":
            self._flush()
            self._pre += 1
        elif tag in self.HEADINGS:
            self._flush()
            self._heading = int(tag[1])
        elif tag in self.BLOCK and not self._pre:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skip = max(0, self._skip - 1)
        elif self._skip:
            return
        elif tag == "pre" and self._pre:
            self._pre -= 1
            if not self._pre:
                self._flush("code")
        elif tag in self.HEADINGS:
            self._flush()
            self._heading = None
        elif tag in self.BLOCK and not self._pre:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._text.append(data)


def html_blocks(text: str) -> list[Block]:
    parser = _HtmlBlocks()
    parser.feed(text)
    parser.close()
    parser._flush()
    return parser.blocks


def pdf_blocks(data: bytes) -> list[Block]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise UnreadableError("encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
    except UnreadableError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        # pypdf reports corrupt structure through several exception types.
        raise UnreadableError(f"unreadable PDF: {exc}") from exc
    blocks = []
    for number, extracted in enumerate(pages, start=1):
        # Rejoin words hyphenated across lines; lines of one paragraph become one line.
        page_text = re.sub(r"(\w)-\n(\w)", r"\1\2", extracted)
        for para in _BLANK_LINES.split(page_text):
            flat = _SPACES.sub(" ", para).strip()
            if flat:
                blocks.append(Block(flat, page=number))
    if not blocks:
        raise UnreadableError("no extractable text in the PDF (scanned images?)")
    return blocks
