"""Paging cursors are opaque and tamper-evident."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_server.errors import BadRequest
from fhir_server.services.cursors import CursorCodec

positions = st.dictionaries(st.text(max_size=5), st.one_of(st.text(), st.integers()), max_size=4)


@given(position=positions)
def test_a_cursor_decodes_to_its_position(position):
    codec = CursorCodec(b"k" * 32)
    assert codec.decode(codec.encode(position)) == position


@given(position=positions, flip=st.integers(min_value=0))
def test_any_altered_character_is_refused(position, flip):
    codec = CursorCodec(b"k" * 32)
    cursor = codec.encode(position)
    index = flip % len(cursor)
    replacement = "A" if cursor[index] != "A" else "B"
    altered = cursor[:index] + replacement + cursor[index + 1:]
    with pytest.raises(BadRequest):
        codec.decode(altered)


def test_a_cursor_from_another_key_is_refused():
    cursor = CursorCodec(b"a" * 32).encode({"id": "x"})
    with pytest.raises(BadRequest):
        CursorCodec(b"b" * 32).decode(cursor)
