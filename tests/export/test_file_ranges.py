"""The Range and Accept-Encoding parsers behind export downloads,
against Python slicing as the oracle."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_server.api.file_responses import (
    RangeNotSatisfiable,
    accepts_gzip,
    byte_range,
)

sizes = st.integers(0, 10**6)
offsets = st.integers(0, 2 * 10**6)


def sliced(spec: str, total: int) -> tuple[int, int] | None:
    part = byte_range(spec, total)
    return None if part is None else (part.start, part.end + 1)


@given(sizes, offsets, offsets)
def test_first_last_ranges_are_slices(total, first, last):
    spec = f"bytes={first}-{last}"
    if last < first:
        assert sliced(spec, total) is None
    elif first >= total:
        with pytest.raises(RangeNotSatisfiable):
            byte_range(spec, total)
    else:
        assert range(total)[slice(*sliced(spec, total))] == range(total)[first:last + 1]


@given(sizes, offsets)
def test_open_and_suffix_ranges_are_slices(total, n):
    data = range(total)
    if n < total:
        assert data[slice(*sliced(f"bytes={n}-", total))] == data[n:]
    else:
        with pytest.raises(RangeNotSatisfiable):
            byte_range(f"bytes={n}-", total)
    if n == 0 or total == 0:
        with pytest.raises(RangeNotSatisfiable):
            byte_range(f"bytes=-{n}", total)
    else:
        assert data[slice(*sliced(f" Bytes = -{n} ", total))] == data[-n:]


@pytest.mark.parametrize("spec", ["bytes=0-1,3-4", "bytes=-", "lines=0-1", "bytes 0-1", ""])
def test_other_ranges_mean_the_whole_file(spec):
    assert byte_range(spec, 100) is None


def test_huge_numbers_are_outside_any_file():
    with pytest.raises(RangeNotSatisfiable):
        byte_range("bytes=" + "9" * 5000 + "-", 100)
    assert sliced("bytes=-" + "9" * 5000, 100) == (0, 100)


@pytest.mark.parametrize(("header", "gzip"), [
    ("gzip", True), ("GZIP;q=0.5", True), ("deflate, gzip;q=1.0", True), ("*", True),
    ("x-gzip", True), ("br, *;q=0.1", True), (None, False), ("", False),
    ("gzip;q=0", False), ("gzip; q=0.000", False), ("identity", False),
    ("*;q=0", False), ("gzip;q=0, *", False), ("gzip;q=zero", False), ("deflate", False),
])
def test_gzip_is_used_only_when_accepted(header, gzip):
    assert accepts_gzip(header) is gzip


