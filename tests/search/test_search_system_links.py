"""The links of a search of several types (search-system, `Patient/[id]/*`) state the page
size used, as a search of one type's do (search.html#count, http.html#paging)."""

import pytest
from search.helpers import load, ref


def _links(page: dict) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in page["link"]}


@pytest.fixture(scope="module")
def ids(client) -> dict[str, str]:
    return load(client, {
        "kim": {"resourceType": "Patient", "name": [{"family": "Kim"}]},
        **{f"o{n}": {"resourceType": "Observation", "status": "final",
                     "code": {"text": "mạch"}, "subject": ref("kim")} for n in range(3)},
    })


@pytest.mark.parametrize("path", ["", "/Patient/{kim}/*"])
def test_count_above_the_ceiling_is_stated_as_used(client, ids, path):
    """`_count=5000` pages by the ceiling (1000): the links said `_count=5000`."""
    path = path.format(kim=ids["kim"])
    page = client.get(path, params={"_type": "Patient", "_id": ids["kim"], "_count": "5000"})
    assert page.status_code == 200, page.text
    assert _links(page.json())["self"].endswith(f"_id={ids['kim']}&_count=1000")


def test_count_given_twice_is_stated_once(client, ids):
    """The last `_count` is the one used: the links kept both (`_count=5000&_count=2`),
    which a search of one type states as `_count=2`."""
    path = f"/Patient/{ids['kim']}/*"
    page = client.get(path, params=[("_type", "Observation"), ("_count", "5000"),
                                    ("_count", "2")]).json()
    assert len(page["entry"]) == 2
    links = _links(page)
    assert links["self"].endswith(f"{path}?_type=Observation&_count=2")
    assert links["next"].count("_count=") == 1 and "_count=2&_cursor=" in links["next"]
    following = client.get(links["next"]).json()
    assert len(following["entry"]) == 1
    assert _links(following)["first"] == links["self"]
