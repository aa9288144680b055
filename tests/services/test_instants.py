"""`meta.lastUpdated` and every other instant the server writes: a valid FHIR instant (R4's
own regex, four-digit year) of the same millisecond, in UTC, for any moment in any offset."""

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_server.conformance.primitives import primitive_type
from fhir_server.services.versions import format_instant

offsets = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))


@settings(deadline=None)  # the first example loads R4's definitions
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=offsets))
def test_an_instant_is_written_as_fhir_asks_at_the_millisecond(moment):
    written = format_instant(moment)
    assert primitive_type("instant").problem(written) is None, written
    assert written.endswith("Z") and len(written) == len("0001-01-01T00:00:00.000Z")
    exact = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    assert datetime.fromisoformat(written) == exact.astimezone(UTC)
