"""Paging cursors are opaque and tamper-evident."""

import base64

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


@given(position=positions)
def test_a_cursor_is_refused_in_another_search(position):
    codec = CursorCodec(b"k" * 32)
    cursor = codec.encode(position, '["Patient", [], [["family", false]]]')
    assert codec.decode(cursor, '["Patient", [], [["family", false]]]') == position
    with pytest.raises(BadRequest):
        codec.decode(cursor, '["Patient", [], [["birthdate", false]]]')


def test_a_cursor_shows_nothing_of_its_position():
    """The last row's sort values (a family name) are not readable in the link."""
    cursor = CursorCodec(b"k" * 32).encode({"k": ["nguyen", "2024-01-01"]})
    decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert b"nguyen" not in decoded and b"2024" not in decoded
