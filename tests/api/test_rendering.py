"""Response bodies: orjson writes them, json where orjson cannot (integers beyond 64 bits);
either way the body parses back to the content, and `_pretty` indents."""

import json

from hypothesis import given
from hypothesis import strategies as st

from fhir_server.api.media import FHIR_JSON, render

_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(st.characters(blacklist_categories=("Cs",))))
CONTENT = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


@given(st.dictionaries(st.text(max_size=8), CONTENT, max_size=5), st.booleans())
def test_a_rendered_body_parses_back_to_its_content(content, pretty):
    body, media = render(content, FHIR_JSON, pretty, 200)
    assert media == FHIR_JSON
    assert json.loads(body) == content
    assert (b"\n  " in body) == (pretty and bool(content))
