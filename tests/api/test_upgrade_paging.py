"""The links of a searchset page an earlier release served still page on once the server is
upgraded: a client paging through a large search while the hospital upgrades gets its next
page, not a 400. A cursor is bound to its search's context as every release has written it
(stdlib json: `", "` separators, non-ASCII escaped); orjson's compact UTF-8 text (tried in
538d61f, reverted) made every link served before the upgrade 400."""

import json
from urllib.parse import parse_qsl, urlencode, urlsplit

from helpers import created, new_patient, unique_cccd
from pymongo import MongoClient

from fhir_server.services.cursors import CursorCodec


def test_a_next_link_minted_as_releases_mint_it_pages_on(client, server):
    family = f"Đỗ{unique_cccd()}"
    ids = sorted(created(client, new_patient(name=[{"family": family}]))["id"]
                 for _ in range(2))
    first = client.get("/Patient", params={"family": family, "_count": "1"}).json()
    [next_url] = [link["url"] for link in first["link"] if link["relation"] == "next"]
    query = dict(parse_qsl(urlsplit(next_url).query))
    settings = server.settings
    with MongoClient(settings.mongodb_uri) as mongo:
        key = mongo[settings.database]["server_settings"].find_one({"_id": "cursor_key"})
    codec = CursorCodec(key["value"])
    # The position the link holds, re-minted against the context as releases wrote it.
    released_context = json.dumps(["Patient", [["family", family]], []])
    position = codec.decode(query["_cursor"], released_context)
    query["_cursor"] = codec.encode(position, released_context)
    response = client.get(f"/Patient?{urlencode(query)}")
    assert response.status_code == 200, response.text
    second = [entry["resource"]["id"] for entry in response.json()["entry"]]
    assert sorted(second + [first["entry"][0]["resource"]["id"]]) == ids
