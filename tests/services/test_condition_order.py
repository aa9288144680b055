"""The order a transaction resolves its conditional creates and updates in
(services/bundle_identities.py): each after the entries whose fullUrl its condition names,
else in the order given, also for the 5,000 entries a transaction may hold."""

from hypothesis import given
from hypothesis import strategies as st

from fhir_server.services.bundle_entries import Entry
from fhir_server.services.bundle_identities import _named_ones_first


def _url(index: int) -> str:
    return f"urn:uuid:{index:08d}-0000-4000-8000-000000000000"


def _entry(index: int, named: list[int]) -> Entry:
    condition = "&".join(f"part-of={_url(other)}" for other in named) or "status=finished"
    return Entry(index, "POST", "Encounter", full_url=_url(index), if_none_exist=condition)


def test_a_chain_of_5000_is_resolved_from_its_end():
    """Each names the next: the last first. (Looking at every pending entry for each step
    held the event loop for minutes.)"""
    entries = [_entry(i, [i + 1] if i < 4999 else []) for i in range(5000)]
    assert [e.index for e in _named_ones_first(entries)] == list(range(4999, -1, -1))


@given(st.lists(st.lists(st.integers(0, 29), max_size=3), min_size=1, max_size=30))
def test_every_entry_comes_once_and_after_those_it_names_unless_in_a_cycle(names):
    entries = [_entry(i, [n for n in named if n < len(names)]) for i, named in enumerate(names)]
    order = [e.index for e in _named_ones_first(entries)]
    assert sorted(order) == list(range(len(entries)))
    position = {index: place for place, index in enumerate(order)}

    def reaches(start: int, goal: int) -> bool:  # start names goal, directly or not
        seen, stack = set(), [start]
        while stack:
            for named in names[stack.pop()]:
                if named < len(names) and named not in seen:
                    if named == goal:
                        return True
                    seen.add(named)
                    stack.append(named)
        return False

    for index, named in enumerate(names):
        for other in (n for n in named if n < len(names) and n != index):
            if not reaches(other, index):  # no cycle through both
                assert position[other] < position[index], (index, other, order)
