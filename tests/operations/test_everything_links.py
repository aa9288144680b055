"""The links of `$everything` pages (search.html#paging, http.html#paging): `self` names the
page it is on, and a later page also names the `first`, as a search's pages do."""

from search.helpers import load

from operations.everything_helpers import everything_pages, observation


def _links(page: dict) -> dict[str, str]:
    return {link["relation"]: link["url"] for link in page["link"]}


def test_self_is_the_page_it_is_on(client):
    """A later page's `self` was the first page's URL, without its cursor: a client
    re-reading `self` (to refresh it, or to record where it was) got page one again."""
    keys = load(client, {"yen": {"resourceType": "Patient", "name": [{"family": "Hà"}]},
                         **{f"o{n}": observation("yen", "8867-4") for n in range(4)}})
    path = f"/Patient/{keys['yen']}/$everything"
    pages = everything_pages(client, path, {"_count": "2", "_type": "Patient,Observation"})
    assert len(pages) == 3
    first = _links(pages[0])
    assert first["self"].endswith(f"{path}?_count=2&_type=Patient,Observation")
    assert "first" not in first
    for previous, page in zip(pages, pages[1:], strict=False):
        links = _links(page)
        assert links["self"] == _links(previous)["next"]
        assert links["first"] == first["self"]
        again = client.get(links["self"]).json()
        assert [e["fullUrl"] for e in again["entry"]] == [e["fullUrl"] for e in page["entry"]]


def test_the_links_state_the_page_size_used(client):
    """`_count` above the ceiling (1000) pages by 1000, and the links say so, as a search's
    do; they said `_count=5000`. `_count=02` is 2."""
    keys = load(client, {"tam": {"resourceType": "Patient", "name": [{"family": "Mai"}]},
                         **{f"o{n}": observation("tam", "8867-4") for n in range(3)}})
    path = f"/Patient/{keys['tam']}/$everything"
    [page] = everything_pages(client, path, {"_count": "5000"})
    assert _links(page)["self"].endswith(f"{path}?_count=1000")
    pages = everything_pages(client, path, {"_count": "02"})
    assert [len(p["entry"]) for p in pages] == [2, 2]
    assert "_count=2&_cursor=" in _links(pages[0])["next"]
    assert _links(pages[1])["first"].endswith(f"{path}?_count=2")


def test_the_links_keep_the_format_asked_for(client):
    """`_format=xml` (and `_pretty`) stay in the links, as a search's keep them: they were
    dropped, and a client that asked for XML by `_format` got its next page in JSON."""
    keys = load(client, {"vy": {"resourceType": "Patient", "name": [{"family": "Vy"}]},
                         "o": observation("vy", "8867-4")})
    path = f"/Patient/{keys['vy']}/$everything"
    response = client.get(path, params={"_format": "json", "_pretty": "true", "_count": "1"})
    assert response.status_code == 200, response.text
    links = _links(response.json())
    assert links["self"].endswith(f"{path}?_count=1&_format=json&_pretty=true")
    assert "_format=json&_pretty=true&_cursor=" in links["next"]
    xml = client.get(path, params={"_format": "xml", "_count": "1"})
    assert xml.headers["content-type"].startswith("application/fhir+xml"), xml.text
    following = client.get(xml.text.split('<relation value="next"/><url value="')[1]
                           .split('"')[0].replace("&amp;", "&"))
    assert following.status_code == 200, following.text
    assert following.headers["content-type"].startswith("application/fhir+xml")
