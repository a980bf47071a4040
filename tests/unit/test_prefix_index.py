"""The batch engine's prefix index and slot table, without a model: longest match, LRU
order, eviction, and the llama.cpp memory calls each reuse makes."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.backends.llama_cpp.prefix_index import Match, PrefixIndex, common_prefix
from gateway.backends.llama_cpp.slot_table import SlotTable


@pytest.mark.parametrize(
    ("a", "b", "shared"),
    [
        ([], [1, 2], 0),
        ([1, 2, 3], [1, 2, 3], 3),
        ([1, 2, 3], [1, 2], 2),
        ([1, 2], [1, 2, 3, 4], 2),
        ([5, 2, 3], [1, 2, 3], 0),
        ([1, 2, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 0, 7], 5),
        (list(range(4096)), [*range(4000), -1], 4000),
    ],
)
def test_common_prefix(a: list[int], b: list[int], shared: int) -> None:
    assert common_prefix(a, b) == shared
    assert common_prefix(b, a) == shared


def test_the_longest_match_wins_and_ties_go_to_the_most_recent() -> None:
    index = PrefixIndex()
    index.keep(0, [1, 2, 3, 4])
    index.keep(1, [1, 2, 9])
    index.keep(2, [7, 8])
    assert index.longest([1, 2, 3, 5]) == Match(0, 3, 4)
    assert index.longest([1, 2]) == Match(1, 2, 3)  # 0 and 1 tie: 1 was kept later
    assert index.longest([7, 8, 9]) == Match(2, 2, 2)
    assert index.longest([6]) is None
    assert index.tokens == 9 and len(index) == 3


def test_least_recent_follows_keep_order_and_take_forgets() -> None:
    index = PrefixIndex()
    for seq_id in (3, 1, 2):
        index.keep(seq_id, [seq_id])
    assert index.least_recent() == 3
    index.keep(3, [3, 3])  # kept again: now the most recent
    assert index.least_recent() == 1
    assert index.least_recent(exclude=(1,)) == 2
    assert index.take(1) == [1]
    assert 1 not in index and index.take(1) == []
    index.keep(2, [])  # nothing held: nothing kept
    assert 2 not in index and index.least_recent() == 3


class _Memory:
    """Records the llama.cpp memory calls a slot table makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def llama_memory_seq_rm(self, _mem: object, seq: int, p0: int, p1: int) -> bool:
        self.calls.append(("rm", seq, p0, p1))
        return True

    def llama_state_seq_get_size_ext(self, _ctx: object, seq: int, _flags: int) -> int:
        return 8

    def llama_state_seq_get_data_ext(
        self, _ctx: object, _buf: object, size: int, seq: int, _flags: int
    ) -> int:
        self.calls.append(("get", seq))
        return size

    def llama_state_seq_set_data_ext(
        self, _ctx: object, _buf: object, size: int, seq: int, _flags: int
    ) -> int:
        self.calls.append(("set", seq))
        return size

    def llama_memory_clear(self, _mem: object, data: bool) -> None:
        self.calls.append(("clear",))


def test_a_kept_sequence_is_trimmed_in_place_when_no_slot_is_empty() -> None:
    lib = _Memory()
    slots = SlotTable(lib, None, None, parallel=2)
    a, b = slots.claim_empty(), slots.claim_empty()
    slots.release(a, [1, 2, 3, 4, 5])
    slots.release(b, [7, 8, 9])
    lib.calls.clear()
    prompt = [1, 2, 3, 6]
    slot, reused = slots.claim(prompt, slots.kept.longest(prompt))
    assert (slot, reused) == (a, 3)
    assert lib.calls == [("rm", a, 3, -1)]
    assert slots.available == 1 and a not in slots.kept


def test_an_exact_repeat_still_decodes_its_last_token() -> None:
    lib = _Memory()
    slots = SlotTable(lib, None, None, parallel=1)
    slots.release(slots.claim_empty(), [1, 2, 3, 4])
    slot, reused = slots.claim([1, 2, 3, 4], slots.kept.longest([1, 2, 3, 4]))
    assert reused == 3 and lib.calls[-1] == ("rm", slot, 3, -1)


def test_a_short_match_copies_into_an_empty_slot_and_keeps_the_source() -> None:
    lib = _Memory()
    slots = SlotTable(lib, None, None, parallel=3)
    source = slots.claim_empty()
    slots.release(source, [1, 2, 3, 4, 5, 6, 7, 8])
    lib.calls.clear()
    slot, reused = slots.claim([1, 2, 9], slots.kept.longest([1, 2, 9]))
    assert slot != source and reused == 2
    assert lib.calls == [("get", source), ("set", slot), ("rm", slot, 2, -1)]
    assert source in slots.kept  # its tail (a conversation) may still be continued


def test_without_empty_slots_the_least_recently_used_is_evicted() -> None:
    lib = _Memory()
    slots = SlotTable(lib, None, None, parallel=2)
    first, second = slots.claim_empty(), slots.claim_empty()
    slots.release(first, [1, 1])
    slots.release(second, [2, 2])
    lib.calls.clear()
    slot, reused = slots.claim([3, 3], slots.kept.longest([3, 3]))
    assert (slot, reused) == (first, 0)
    assert lib.calls == [("rm", first, -1, -1)]
    assert slots.kept.longest([2, 2, 5]) == Match(second, 2, 2)


def test_a_sequence_let_go_frees_its_cells_and_clear_forgets_everything() -> None:
    lib = _Memory()
    slots = SlotTable(lib, None, None, parallel=2)
    slot = slots.claim_empty()
    slots.release(slot, None)
    assert lib.calls == [("rm", slot, -1, -1)] and slots.available == 2
    slots.release(slots.claim_empty(), [4])
    slots.clear()
    assert lib.calls[-1] == ("clear",) and len(slots.kept) == 0 and slots.available == 2
    with pytest.raises(RuntimeError):
        slots.claim_empty(), slots.claim_empty(), slots.claim_empty()


def test_a_failed_copy_leaves_the_target_empty() -> None:
    class _Refusing(_Memory):
        def llama_state_seq_set_data_ext(
            self, _ctx: object, _buf: object, size: int, seq: int, _flags: int
        ) -> int:
            return 0

    lib = _Refusing()
    slots = SlotTable(lib, None, None, parallel=2)
    with pytest.raises(RuntimeError, match="copying sequence 0"):
        slots.copy(0, 1, upto=4)
    assert lib.calls[-1] == ("rm", 1, -1, -1)
