from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.backends.sse_decoder import SSEDecoder

payloads = st.lists(
    st.text(
        alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]), min_size=1
    ),
    min_size=1,
    max_size=8,
)


def encode(events: list[str], newline: bytes) -> bytes:
    out = b": comment first" + newline
    for event in events:
        out += b"event: message" + newline + b"data: " + event.encode() + newline + newline
    return out


def feed_in_pieces(stream: bytes, cuts: list[int]) -> list[bytes]:
    decoder = SSEDecoder()
    events: list[bytes] = []
    start = 0
    for cut in sorted(set(c % (len(stream) + 1) for c in cuts)):
        events += decoder.feed(stream[start:cut])
        start = cut
    events += decoder.feed(stream[start:])
    return events + decoder.finish()


@given(
    events=payloads,
    cuts=st.lists(st.integers(min_value=0), max_size=12),
    newline=st.sampled_from([b"\n", b"\r\n", b"\r"]),
)
def test_any_split_and_any_line_ending_give_the_same_events(
    events: list[str], cuts: list[int], newline: bytes
) -> None:
    expected = [e.encode() for e in events]
    assert feed_in_pieces(encode(events, newline), cuts) == expected


def test_multi_line_data_joins_with_newline_and_one_leading_space_is_dropped() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data:  two spaces\ndata:x\ndata\n\n") == [b" two spaces\nx\n"]


def test_comments_and_other_fields_are_not_events() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b": keep-alive\n\nid: 3\nretry: 10\n\n") == []


def test_unterminated_last_event_is_still_delivered_at_the_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: [DONE]") == []
    assert decoder.finish() == [b"[DONE]"]
