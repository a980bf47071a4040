"""Re-encoding a changed request without losing what the types do not know.

A stage that transforms a request returns a new typed object; encoding that object alone
would drop every field the Structs do not declare (a `video_url` part, `cache_control`,
`image_url.uuid`, a vendor's top-level extension). `reencode` instead walks the old and the
new value side by side over the request's raw JSON: what did not change keeps its original
bytes, nested fields included; only the changed values are encoded anew, and unknown keys
next to them stay as they were.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET

from gateway.protocol.raw import RawFields, raw

_object_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
_array_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_encoder = msgspec.json.Encoder()


def reencode(fields: RawFields, new: msgspec.Struct) -> RawFields:
    """The raw top-level `fields` of a request, changed to say what `new` says.

    What `new` is compared with is decoded here from the bytes themselves, never taken from
    the object a stage was given: a stage may have changed that object in place."""
    try:
        old = msgspec.json.decode(_encoder.encode(fields), type=type(new))
    except (msgspec.DecodeError, msgspec.ValidationError):
        return {**fields, **_struct_fields(new)}  # nothing to compare with: say it all
    out = dict(fields)
    _merge_struct_into(out, old, new)
    return out


def _struct_fields(value: msgspec.Struct) -> RawFields:
    return _object_decoder.decode(_encoder.encode(value))


def _same(before: Any, after: Any) -> bool:
    return before is after or (type(before) is type(after) and before == after)


def _merge_struct_into(
    out: dict[str, msgspec.Raw], old: msgspec.Struct, new: msgspec.Struct
) -> None:
    names = type(new).__struct_fields__
    keys = type(new).__struct_encode_fields__
    for name, key in zip(names, keys, strict=True):
        before = getattr(old, name)
        after = getattr(new, name)
        if _same(before, after):
            continue
        if after is UNSET:
            out.pop(key, None)
            continue
        original = out.get(key)
        out[key] = raw(after) if original is None else _merged(original, before, after)


def _merged(original: msgspec.Raw, before: Any, after: Any) -> msgspec.Raw:
    """`after` as raw JSON, reusing the bytes of `original` (which encodes `before`) for
    every part that did not change."""
    if _same(before, after):
        return original
    if isinstance(after, msgspec.Raw):
        return after
    try:
        if isinstance(after, msgspec.Struct) and type(before) is type(after):
            members = _object_decoder.decode(original)
            _merge_struct_into(members, before, after)
            return msgspec.Raw(_encoder.encode(members))
        if isinstance(after, dict) and isinstance(before, dict):
            return _merged_dict(_object_decoder.decode(original), before, after)
        if isinstance(after, list) and isinstance(before, list):
            return _merged_list(_array_decoder.decode(original), before, after)
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass  # the original is not the shape its value says: nothing to keep
    return raw(after)


def _merged_dict(
    members: dict[str, msgspec.Raw], before: dict[Any, Any], after: dict[Any, Any]
) -> msgspec.Raw:
    out: dict[str, msgspec.Raw] = {}
    for key, value in after.items():
        original = members.get(key)
        if original is not None and key in before:
            out[key] = _merged(original, before[key], value)
        else:
            out[key] = raw(value)
    return msgspec.Raw(_encoder.encode(out))


def _merged_list(items: list[msgspec.Raw], before: list[Any], after: list[Any]) -> msgspec.Raw:
    if len(items) != len(before):
        return raw(after)
    if len(after) == len(before):
        merged = [_merged(o, b, a) for o, b, a in zip(items, before, after, strict=True)]
        return msgspec.Raw(_encoder.encode(merged))
    # Items were dropped or added (old turns trimmed, a system turn put first), maybe
    # changed as well: anchor the items that are still there unchanged, then pair what is
    # left between two anchors from the end (drops and inserts happen at the front), so a
    # changed item still keeps the unknown fields of the one it replaces.
    anchors = _unchanged_pairs(before, after)
    out: list[msgspec.Raw] = []
    old_at = new_at = 0
    for old_end, new_end in [*anchors, (len(before), len(after))]:
        shift = (old_end - old_at) - (new_end - new_at)
        for j in range(new_at, new_end):
            i = j + shift + (old_at - new_at)
            value = after[j]
            if old_at <= i < old_end and type(before[i]) is type(value):
                out.append(_merged(items[i], before[i], value))
            else:
                out.append(raw(value))
        if old_end < len(before):
            out.append(items[old_end])
        old_at, new_at = old_end + 1, new_end + 1
    return msgspec.Raw(_encoder.encode(out))


def _unchanged_pairs(before: list[Any], after: list[Any]) -> list[tuple[int, int]]:
    """(old index, new index) of items equal on both sides, in order (greedy)."""
    pairs: list[tuple[int, int]] = []
    start = 0
    for j, value in enumerate(after):
        for i in range(start, len(before)):
            if _same(before[i], value):
                pairs.append((i, j))
                start = i + 1
                break
    return pairs
