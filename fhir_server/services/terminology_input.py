"""The input of the terminology operations (http://hl7.org/fhir/R4/operations.html#request):
primitives from the query string or a POSTed `Parameters`, and there also the complex ones
(`coding` as valueCoding, `codeableConcept`, a `valueSet`/`codeSystem`/`conceptMap` resource).
In a query string `coding` may be given as `system|code`."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from fhir_server.conformance.primitives import is_digits
from fhir_server.conformance.validation import validate_resource
from fhir_server.errors import BadRequest
from fhir_server.services.parameters import parameter_pairs

_COMPLEX = ("valueCoding", "valueCodeableConcept", "resource")
_LARGEST_INTEGER = 2**31 - 1  # FHIR's integer (datatypes.html#integer)


@dataclass
class TerminologyInput:
    operation: str  # "$validate-code", for messages
    pairs: list[tuple[str, str]] = field(default_factory=list)
    complex: dict[str, list[dict]] = field(default_factory=dict)

    def one(self, name: str) -> str | None:
        values = [value for key, value in self.pairs if key == name]
        if len(values) + len(self.complex.get(name, [])) > 1:
            raise BadRequest(f"'{name}' is given more than once", expression=name)
        return values[0] if values else None

    def at_most_one_of(self, *names: str) -> None:
        """400 when the request gives more than one of these alternatives (a code and a
        coding): answering with one of them would leave the other unread."""
        given = [name for name in names if any(key == name for key, _ in self.pairs)
                 or self.complex.get(name)]
        if len(given) > 1:
            raise BadRequest(f"{self.operation} takes one of {' and '.join(given)}, not both",
                             expression=given[1])

    def flag(self, name: str) -> bool:
        value = self.one(name)
        if value not in (None, "true", "false"):
            raise BadRequest(f"'{name}' must be true or false, not '{value}'", expression=name)
        return value == "true"

    def number(self, name: str, default: int) -> int:
        value = self.one(name)
        if value is None:
            return default
        if not is_digits(value) or int(value) > _LARGEST_INTEGER:
            raise BadRequest(f"'{name}' must be a non-negative integer (at most "
                             f"{_LARGEST_INTEGER}), not '{value}'", expression=name)
        return int(value)

    def _complex(self, name: str) -> dict | None:
        values = self.complex.get(name, [])
        if len(values) + sum(1 for key, _ in self.pairs if key == name) > 1:
            raise BadRequest(f"'{name}' is given more than once", expression=name)
        return values[0] if values else None

    def one_coded(self, code_with: str = "") -> tuple[str | None, dict | None, dict | None]:
        """`code`, `coding` and `codeableConcept`, of which an invocation gives exactly one
        (400 otherwise); `code_with` says what a `code` needs beside it in the refusal."""
        code, coding, concept = self.one("code"), self.coding(), self.codeable_concept()
        if sum(x is not None for x in (code, coding, concept)) != 1:
            raise BadRequest(f"{self.operation} needs exactly one of 'code'{code_with}, "
                             "'coding' and 'codeableConcept'")
        return code, coding, concept

    def coding(self, name: str = "coding") -> dict | None:
        """A Coding: valueCoding in a POST, `system|code` in a query string."""
        found = self._complex(name)
        text = None if found is not None else self.one(name)
        if text is not None:
            system, bar, code = text.rpartition("|")
            found = {"system": system, "code": code} if bar else {"code": text}
        if found is not None and not _is_coding(found):
            raise BadRequest(f"'{name}' is not a valid Coding", expression=name)
        return found

    def codeable_concept(self) -> dict | None:
        found = self._complex("codeableConcept")
        if found is None and self.one("codeableConcept") is not None:
            raise BadRequest("'codeableConcept' cannot be written in a URL: POST a Parameters "
                             "with a valueCodeableConcept, or give 'coding' as system|code",
                             expression="codeableConcept")
        if found is None:
            return None
        codings = found.get("coding")
        if codings is None and isinstance(found.get("text"), str):
            return found  # text only: valid FHIR, with no code to check
        if not isinstance(codings, list) or not codings or not all(map(_is_coding, codings)):
            raise BadRequest("'codeableConcept' needs valid codings, or text only",
                             expression="codeableConcept")
        return found

    def resource(self, name: str, resource_type: str) -> dict | None:
        """A resource given in the request (`valueSet`, `codeSystem`, `conceptMap`), valid
        against the base R4 definition: the operations read it as one."""
        found = self._complex(name)
        if found is not None and found.get("resourceType") != resource_type:
            raise BadRequest(f"'{name}' must be a {resource_type} resource", expression=name)
        if found is not None:
            validate_resource(found)  # 400 with the issues
        return found


def _is_coding(value: object) -> bool:
    # A member given is a string: FHIR JSON has no null (json.html).
    return isinstance(value, dict) and all(
        key not in value or isinstance(value[key], str)
        for key in ("system", "code", "version", "display")
    ) and bool(value.get("code"))


def read_input(operation: str, query: list[tuple[str, str]], body: object | None,
               declared: Mapping[str, str]) -> TerminologyInput:
    """The input of one invocation: the query's parameters plus a POSTed `Parameters`, whose
    parameters of a primitive type `declared` (name → type, from the OperationDefinition)
    must come as that type's value[x] (`filter` as valueCoding or parts is 400)."""
    found = TerminologyInput(operation, list(query))
    if body is None:
        return found
    if not isinstance(body, dict) or not isinstance(body.get("parameter", []), list):
        parameter_pairs(body, operation)  # raises the usual 400
        return found
    primitive = []
    for parameter in body.get("parameter", []):
        if not isinstance(parameter, dict) or parameter.get("name") in declared:
            primitive.append(parameter)  # checked against its type by parameter_pairs
            continue
        kind = next((k for k in _COMPLEX if k in parameter), None)
        if kind is None and "part" in parameter:
            # A parameter of parts ($translate's `dependency`): read by its operation.
            found.complex.setdefault(str(parameter.get("name")), []).append(
                {"part": parameter["part"]})
        elif kind is None:
            primitive.append(parameter)
        elif not isinstance(parameter[kind], dict) or not isinstance(parameter.get("name"), str):
            raise BadRequest(f"The parameter '{parameter.get('name')}' has an invalid {kind}")
        else:
            found.complex.setdefault(parameter["name"], []).append(parameter[kind])
    found.pairs += parameter_pairs({**body, "parameter": primitive}, operation,
                                   declared=declared)
    return found
