"""JSON Patch (RFC 6902) of a stored resource, as FHIR takes it (http://hl7.org/fhir/R4/
http.html#patch): operation by operation, so that an error names the one at fault, and
`test` comparing numbers by their value, not by the binary float one of them was read as."""

import copy
from types import MappingProxyType

import jsonpatch
import jsonpointer

from fhir_server.conformance import json_format
from fhir_server.errors import BadRequest, PayloadTooLarge, Unprocessable

_COPY_ALLOWANCE = 1024 * 1024


class _TestByValue(jsonpatch.TestOperation):
    """`test` with RFC 6902 §4.6's equality (`json_format.json_equal`): jsonpatch compares
    numbers with Python's `==`, for which the Decimal `0.10` (a client's test value) is not
    the float `0.1` (the stored value), while `13.5` is `13.50`."""

    def apply(self, obj: object) -> object:
        if "value" not in self.operation:
            raise jsonpatch.InvalidJsonPatch("The operation does not contain a 'value' member")
        if not json_format.json_equal(self.pointer.resolve(obj), self.operation["value"]):
            raise jsonpatch.JsonPatchTestFailed(f"not equal at {self.location}")
        return obj


class _JsonPatch(jsonpatch.JsonPatch):
    operations = MappingProxyType({**jsonpatch.JsonPatch.operations, "test": _TestByValue})


def apply_json_patch(resource: dict, operations: object) -> dict:
    """The resource after a JSON Patch (the input is left as it was): a malformed operation
    is 400; one that does not fit the resource, a failing `test` among them, 422
    (http.html#patch, as FHIRPath Patch)."""
    if not isinstance(operations, list):
        raise BadRequest("A JSON Patch document must be an array of operations; a FHIRPath "
                         "Patch is a Parameters resource")
    patched: object = copy.deepcopy(resource)
    # What `copy` operations may add together: as much as the resource held, or 1 MB. Each
    # copy of the whole resource into itself doubled it: 23 of them (a 1 KB patch) took the
    # server past 3 GB.
    room = max(_COPY_ALLOWANCE, len(json_format.dumps(resource)))
    for index, operation in enumerate(operations):
        where = f"The JSON Patch's operation {index + 1}"
        _check_pointers(operation, where)
        try:
            if isinstance(operation, dict) and operation.get("op") == "copy":
                copied = jsonpointer.resolve_pointer(patched, str(operation.get("from")), None)
                room -= len(json_format.dumps(copied))
                if room < 0:
                    raise PayloadTooLarge(f"{where} copies more than the resource holds: "
                                          "a patch may not grow it so")
            patched = _JsonPatch([operation]).apply(patched, in_place=True)
        except (jsonpatch.InvalidJsonPatch, TypeError, KeyError, AttributeError) as bad:
            raise BadRequest(f"{where} is malformed: {bad}") from None
        except jsonpatch.JsonPatchTestFailed:
            raise Unprocessable(f"{where} tests {operation.get('path')!r}, and the resource "
                                "holds another value there") from None
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException):
            # jsonpointer's message shows the whole document: the path tells enough.
            raise Unprocessable(f"{where} ({operation.get('op')} {operation.get('path')!r}) "
                                "names a place the resource does not have") from None
    if not isinstance(patched, dict):
        raise BadRequest("The JSON Patch replaces the whole resource with something else")
    return patched


def _check_pointers(operation: object, where: str) -> None:
    """400 for a `path` or `from` that is no JSON Pointer (RFC 6901 §3: empty, or each
    reference token after a `/`): `gender` for `/gender` is a malformed patch, not a place the
    resource lacks (it was 422, as if the patch were sound)."""
    if not isinstance(operation, dict):
        return
    for member in ("path", "from"):
        pointer = operation.get(member)
        if isinstance(pointer, str) and pointer and not pointer.startswith("/"):
            raise BadRequest(f"{where} is malformed: its {member} {pointer!r} is no JSON Pointer "
                             f"(RFC 6901), which starts with '/': '/{pointer}'")
