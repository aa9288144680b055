"""Bundles the server returns: history, searchset (http://hl7.org/fhir/R4/bundle.html)."""

import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

from fhir_server.services.versions import Version, format_instant

_RESPONSE_STATUS = {
    "POST": "201 Created",
    "PUT": "200 OK",
    "PATCH": "200 OK",
    "DELETE": "204 No Content",
}


def page_links(
    base: str,
    path: str,
    params: list[tuple[str, str]],
    next_cursor: str | None,
    cursor: str | None = None,
    previous_cursor: str | None = None,
) -> list[dict]:
    """`self` with the parameters actually used (and the cursor of this page, when it is not
    the first); on a later page `first`, and `previous` where the search can go back; `next`
    carrying the cursor of the next page (search.html#paging)."""
    url = f"{base}/{path}" if path else base  # a system-level search is at the base itself

    def at(page_cursor: str | None) -> str:
        # `:`, `,` and `/` may stand in a query (RFC 3986 §3.4): `_include=Patient:link`
        # stays as the client wrote it.
        query = urlencode([*params, ("_cursor", page_cursor)] if page_cursor else params,
                          safe=":,/")
        return url + (f"?{query}" if query else "")

    links = [{"relation": "self", "url": at(cursor)}]
    if cursor:
        links.append({"relation": "first", "url": at(None)})
    if previous_cursor:
        links.append({"relation": "previous", "url": at(previous_cursor)})
    if next_cursor:
        links.append({"relation": "next", "url": at(next_cursor)})
    return links


def bundle_of(bundle_type: str, entries: list[dict], links: list[dict], total: int | None) -> dict:
    bundle: dict = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": format_instant(datetime.now(UTC))},
        "type": bundle_type,
    }
    if total is not None:
        bundle["total"] = total
    # JSON has no empty arrays in FHIR (json.html): no matches is no `entry`.
    return bundle | {"link": links} | ({"entry": entries} if entries else {})


def history_bundle(
    base: str, versions: list[Version], links: list[dict], total: int | None = None
) -> dict:
    entries = []
    for version in versions:
        entry: dict = {"fullUrl": f"{base}/{version.relative_url}"}
        if version.resource is not None:
            entry["resource"] = version.resource
        url = version.resource_type if version.method == "POST" else version.relative_url
        entry["request"] = {"method": version.method, "url": url}
        entry["response"] = {
            # An update that made the resource (update-as-create, also after a deletion)
            # answered 201.
            "status": _RESPONSE_STATUS["POST" if version.created else version.method],
            "etag": version.etag,
            "lastModified": format_instant(version.last_updated),
        }
        entries.append(entry)
    return bundle_of("history", entries, links, total)


def searchset_bundle(
    base: str, entries: list[tuple[Version, str]], links: list[dict], total: int | None = None
) -> dict:
    """A searchset; each entry's search mode is `match` or `include`."""
    return bundle_of(
        "searchset",
        [
            {
                "fullUrl": f"{base}/{version.relative_url}",
                "resource": version.resource,
                "search": {"mode": mode},
            }
            for version, mode in entries
        ],
        links,
        total,
    )
