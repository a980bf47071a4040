# ruff: noqa: RUF001 - look-alike letters here are the point (confusables, scripts).
"""Builds the labelled injection set from its sources; run from the repository root:

    .venv/bin/python tests/data/injection/generate.py /tmp/bc/bastioncorpus/corpus/injections.jsonl

(or with no argument, to rebuild `own.jsonl` alone).

Writes `bastion.jsonl` (bastioncorpus 0.6.0, MIT, channels mapped) and `own.jsonl` (the
hand-written payloads and hard negatives in `own_rows.py`, with their obfuscated variants,
plus the untrusted content in `own_rows_documents*.py`, `own_rows_tools*.py` and
`own_rows_indirect.py`).
Deterministic: the same inputs give the same files.
"""

from __future__ import annotations

import base64
import codecs
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from own_rows import (  # noqa: E402 - a sibling file, found through the path set above
    DOCUMENT_NEG,
    DOCUMENT_POS,
    TOOL_NEG,
    TOOL_POS,
    TURNS_NEG,
    TURNS_POS,
    USER_NEG,
    USER_POS,
)
from own_rows_documents import DOCUMENT_NEG_MORE  # noqa: E402
from own_rows_documents_2 import DOCUMENT_NEG_MORE_2  # noqa: E402
from own_rows_indirect import DOCUMENT_POS_MORE, TOOL_POS_MORE  # noqa: E402
from own_rows_tools import TOOL_NEG_MORE  # noqa: E402
from own_rows_tools_2 import TOOL_NEG_MORE_2  # noqa: E402

CHANNELS = {"user_input": "user", "tool_output": "tool", "memory": "document"}
HOMOGLYPHS = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "i": "і", "x": "х"})
LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"})


def zero_width(text: str) -> str:
    return "\u200b".join(text[i : i + 3] for i in range(0, len(text), 3))


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def spaced(text: str) -> str:
    words = text.split()
    return " ".join(" ".join(w) if len(w) > 4 and i < 4 else w for i, w in enumerate(words))


def variants(text: str) -> list[tuple[str, str]]:
    """Obfuscated forms of one payload (kept in its group: a split never separates them)."""
    b64 = base64.b64encode(text.encode()).decode()
    return [
        ("base64", f"Please process the following data: {b64}"),
        ("hex", f"ref: {text.encode().hex()}"),
        ("rot13", f"Decode this rot13 message: {codecs.encode(text, 'rot13')}"),
        ("homoglyph", text.translate(HOMOGLYPHS)),
        ("zero_width", zero_width(text)),
        ("leet", text.lower().translate(LEET)),
        ("fullwidth", fullwidth(text)),
        ("spaced", spaced(text)),
        ("html_comment", f"Product details below.\n<!-- {text} -->\nPrice: 19.99 EUR."),
        ("nested_b64", base64.b64encode(b64.encode()).decode()),
    ]


def rows() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []

    def add(text: str, label: int, channel: str, group: str, kind: str = "plain") -> None:
        out.append(
            {
                "text": text,
                "label": label,
                "channel": channel,
                "source": "own",
                "group": group,
                "kind": kind,
            }
        )

    for channel, positives, negatives in (
        ("user", USER_POS, USER_NEG),
        ("tool", TOOL_POS, TOOL_NEG),
        ("document", DOCUMENT_POS, DOCUMENT_NEG),
    ):
        for i, text in enumerate(positives):
            group = f"own-{channel}-pos-{i:03d}"
            add(text, 1, channel, group)
            if i % 3 == 0:  # every third payload also appears disguised
                for kind, disguised in variants(text):
                    add(disguised, 1, channel, group, kind)
        for i, text in enumerate(negatives):
            add(text, 0, channel, f"own-{channel}-neg-{i:03d}")
    # Realistic untrusted content, one template per row and no disguised variants: the
    # indirect injections are already hidden in their surroundings, and the benign rows
    # are what the false-positive budget of the tool and document channels is spent on.
    for channel, label, tag, items in (
        ("tool", 1, "ipos", TOOL_POS_MORE),
        ("tool", 0, "xneg", TOOL_NEG_MORE + TOOL_NEG_MORE_2),
        ("document", 1, "ipos", DOCUMENT_POS_MORE),
        ("document", 0, "xneg", DOCUMENT_NEG_MORE + DOCUMENT_NEG_MORE_2),
    ):
        for i, (kind, text) in enumerate(items):
            add(text, label, channel, f"own-{channel}-{tag}-{i:03d}", kind)
    for i, turns in enumerate(TURNS_POS):
        out.append(
            {
                "turns": turns,
                "text": " ".join(turns),
                "label": 1,
                "channel": "user",
                "source": "own",
                "group": f"own-turns-pos-{i:03d}",
                "kind": "multi_turn",
            }
        )
    for i, turns in enumerate(TURNS_NEG):
        out.append(
            {
                "turns": turns,
                "text": " ".join(turns),
                "label": 0,
                "channel": "user",
                "source": "own",
                "group": f"own-turns-neg-{i:03d}",
                "kind": "multi_turn",
            }
        )
    return out


def bastion(path: Path) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        # Rows sharing an intent are one template rendered several ways: one group.
        group = row.get("intent") or row["id"]
        out.append(
            {
                "text": row["text"],
                "label": int(row["label"] == "malicious"),
                "channel": CHANNELS[row["channel"]],
                "source": "bastioncorpus-0.6.0",
                "group": f"bc:{group}",
                "kind": row.get("category") or "plain",
            }
        )
    return out


def write(path: Path, items: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    # Without the corpus path only `own.jsonl` is rebuilt (`bastion.jsonl` stays as it is).
    if len(sys.argv) > 1:
        write(HERE / "bastion.jsonl", bastion(Path(sys.argv[1])))
    write(HERE / "own.jsonl", rows())
