"""The Bundle invariants over all its entries, checked natively in one pass (with fhirpathpy
each costs 0.3-0.5 ms per entry, seconds for a Bundle of thousands): bdl-2 (`entry.search`
only in a searchset), bdl-3 (`entry.request` exactly in batch, transaction and history),
bdl-4 (`entry.response` exactly in their responses and history), bdl-7 (`fullUrl` unique,
but for versions and in history) and bdl-8 (no `/_history/` in a `fullUrl`)
(http://hl7.org/fhir/R4/bundle.html#invariants); a RESTful fullUrl names its resource's
type and id ("SHALL NOT disagree with the id in the resource"; another id of that type is
a warning). Outside a batch or
transaction (whose requests create what such a reference names), a `urn:uuid:`/`urn:oid:`
reference that names none of the Bundle's entries, which nothing else can resolve
(bundle.html#references), is a warning, as the HL7 validator's, but where a document's
Composition or a message's MessageHeader names what the Bundle holds; and
an entry of a document, message or collection that holds a resource has the fullUrl the
references of the others resolve to (Bundle.entry.fullUrl: "SHALL have a value", but for a
transaction's POSTs and the results of operations), an absolute URI ("The Absolute URL for
the resource")."""

import re
from collections.abc import Collection

from fhir_server.conformance.messages import issue
from fhir_server.conformance.primitives import ABSOLUTE_URI
from fhir_server.conformance.reference_targets import named_resource
from fhir_server.errors import Issue

_WITH_REQUEST = frozenset({"batch", "transaction", "history"})
_URN_PREFIXES = ("urn:uuid:", "urn:oid:")
_WITH_RESPONSE = frozenset({"batch-response", "transaction-response", "history"})
#: The Bundles that are requests to the server's base, whose urns the requests resolve.
_REQUESTS = frozenset({"batch", "transaction"})
#: The Bundles whose entries' resources are identified by their fullUrl.
_IDENTIFIED_ENTRIES = frozenset({"document", "message", "collection"})
#: The references of a document's Composition and a message's MessageHeader to what the
#: Bundle holds, as the HL7 validator resolves them in the Bundle (the rest of the element).
_ANCHORED = {
    "document": re.compile(r"\.(subject|encounter|custodian|author\[\d+\]|attester\[\d+\]\.party"
                           r"|event\[\d+\]\.detail\[\d+\]|(section\[\d+\]\.)+entry\[\d+\])"),
    "message": re.compile(r"\.focus\[\d+\]"),
}
#: Their `human` (R4's words), and in Vietnamese.
RULES = {
    "bdl-2": ("entry.search only when a search", "chỉ có entry.search khi là kết quả tìm kiếm"),
    "bdl-3": ("entry.request mandatory for batch/transaction/history, otherwise prohibited",
              "entry.request bắt buộc với batch/transaction/history, và không được có với các "
              "loại khác"),
    "bdl-4": ("entry.response mandatory for batch-response/transaction-response/history, "
              "otherwise prohibited",
              "entry.response bắt buộc với batch-response/transaction-response/history, và "
              "không được có với các loại khác"),
    "bdl-7": ("FullUrl must be unique in a bundle, or else entries with the same fullUrl must "
              "have different meta.versionId (except in history bundles)",
              "fullUrl phải là duy nhất trong một Bundle, nếu không thì các mục có cùng fullUrl "
              "phải có meta.versionId khác nhau (trừ Bundle lịch sử)"),
    "bdl-8": ("fullUrl cannot be a version specific reference",
              "fullUrl không được là tham chiếu tới một phiên bản cụ thể"),
}


def _disagreeing(full_url: str, resource: object) -> tuple[str, str] | None:
    """(`Type/id` the RESTful fullUrl names, `Type/id` of the resource) when they differ."""
    named = named_resource(full_url)
    if named is None or not isinstance(resource, dict) or not isinstance(resource.get("id"),
                                                                           str):
        return None
    own = (resource.get("resourceType"), resource["id"])
    return None if named == own else ("/".join(named), "/".join(map(str, own)))


def _without_id(full_url: str, resource: object) -> bool:
    """A RESTful fullUrl on a resource without the id it names."""
    return (named_resource(full_url) is not None and ABSOLUTE_URI.match(full_url) is not None
            and isinstance(resource, dict) and "id" not in resource)


def _version(entry: dict) -> object:
    resource = entry.get("resource")
    meta = resource.get("meta") if isinstance(resource, dict) else None
    return meta.get("versionId") if isinstance(meta, dict) else None


def bundle_issues(bundle: dict, path: str, rules: Collection[str] = RULES) -> list[Issue]:
    """The bdl-2, -3, -4, -7 and -8 issues of a Bundle (those of `rules`), each at the entry
    that breaks it."""
    kind, entries = bundle.get("type"), bundle.get("entry")
    if not isinstance(kind, str) or not isinstance(entries, list):
        return []  # a missing type or malformed entries are reported by the walk
    found: list[Issue] = []
    seen: set[tuple[str, str]] = set()

    def broken(key: str, where: str) -> None:
        if key in rules:
            english, vietnamese = RULES[key]
            found.append(issue("invariant", "invariant", where, key=key, human=english,
                               vi={"human": vietnamese}))

    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        where = f"{path}.entry[{index}]"
        if ("request" in entry) != (kind in _WITH_REQUEST):
            broken("bdl-3", where)
        if ("response" in entry) != (kind in _WITH_RESPONSE):
            broken("bdl-4", where)
        if "search" in entry and kind != "searchset":
            broken("bdl-2", where)
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and "/_history/" in full_url:
            broken("bdl-8", f"{where}.fullUrl")
        if kind != "history" and isinstance(full_url, str):
            key = (full_url, str(_version(entry)))
            if key in seen:
                broken("bdl-7", f"{where}.fullUrl")
            seen.add(key)
        if full_url is None and kind in _IDENTIFIED_ENTRIES and "resource" in entry:
            found.append(issue("full-url-missing", "required", where, path=where, kind=kind))
        elif (isinstance(full_url, str) and kind not in _REQUESTS
              and not ABSOLUTE_URI.match(full_url)):
            found.append(issue("full-url-relative", "value", f"{where}.fullUrl",
                               full_url=full_url))
        if isinstance(full_url, str) and (pair := _disagreeing(full_url, entry.get("resource"))):
            # Another id of the right type is a warning: three official examples
            # (Bundle-lri-example, ...) name `Observation/lri-gramstain1` for `gramstain1`.
            same_type = pair[0].partition("/")[0] == pair[1].partition("/")[0]
            found.append(issue("full-url-disagrees", "invalid", f"{where}.fullUrl",
                               severity="warning" if same_type else "error", path=where,
                               full_url=full_url, named=pair[0], resource=pair[1]))
        elif (isinstance(full_url, str) and kind not in _REQUESTS
              and _without_id(full_url, entry.get("resource"))):
            found.append(issue("full-url-without-id", "invalid", f"{where}.fullUrl",
                               path=where, full_url=full_url))
    if kind not in _REQUESTS:
        found += _unresolved_urns(entries, path, kind)
    return found


def stored_bundle_issues(resource: dict) -> list[Issue]:
    """A batch or transaction is a request to the server's base (http.html#transaction):
    stored at /Bundle it sits there unprocessed while its sender may believe its data
    written, the commonest client mistake. A warning, not a refusal (as HAPI's): R4 lets a
    server store any Bundle, and seven official examples are such Bundles."""
    kind = resource.get("type")
    if resource.get("resourceType") == "Bundle" and kind in _REQUESTS:
        return [issue("bundle-request-stored", "business-rule", "Bundle.type", kind=kind,
                      severity="warning")]
    return []


def _unresolved_severity(kind: str, index: int, entry: dict, element: str) -> str:
    """An error where the document's Composition or the message's MessageHeader names what
    the Bundle holds (bundle.html#document, #message), else a warning: only the Bundle can
    resolve a urn:, but outside those the validator only warns (HL7's ref-policy-default-r4)."""
    resource = entry.get("resource")
    anchor = {"document": "Composition", "message": "MessageHeader"}.get(kind)
    if index != 0 or not isinstance(resource, dict) or resource.get("resourceType") != anchor:
        return "warning"
    return "error" if _ANCHORED[kind].fullmatch(element) else "warning"


def _unresolved_urns(entries: list, path: str, kind: str) -> list[Issue]:
    full_urls = {entry["fullUrl"] for entry in entries
                 if isinstance(entry, dict) and isinstance(entry.get("fullUrl"), str)}
    found = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        base = f"{path}.entry[{index}].resource"
        pending = [(entry.get("resource"), base)]
        while pending:
            node, where = pending.pop()
            if isinstance(node, dict) and node.get("resourceType") == "Bundle":
                continue  # a Bundle within: its urns name its own entries, checked with it
            if isinstance(node, dict):
                reference = node.get("reference")
                if (isinstance(reference, str) and reference.startswith(_URN_PREFIXES)
                        and reference not in full_urls):
                    found.append(issue("urn-unresolved", "not-found", f"{where}.reference",
                                       reference=reference,
                                       severity=_unresolved_severity(
                                           kind, index, entry, where[len(base):])))
                pending += [(child, f"{where}.{key}") for key, child in node.items()]
            elif isinstance(node, list):
                pending += [(child, f"{where}[{i}]") for i, child in enumerate(node)]
    return found
