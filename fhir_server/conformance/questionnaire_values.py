"""The checks of a QuestionnaireResponse answer that depend on its value's data type, against
the extensions of its Questionnaire item: an attachment's `mimeType` and `maxSize`, a
reference's `questionnaire-referenceResource` types, a quantity's `questionnaire-unitOption`
units and SDC's `minQuantity` and `maxQuantity` (compared in UCUM base units)."""

import binascii
import math
import unicodedata
from decimal import Decimal, InvalidOperation

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.messages import issue
from fhir_server.conformance.ordering import compare_moments
from fhir_server.conformance.reference_targets import named_resource
from fhir_server.conformance.type_codes import CORE
from fhir_server.conformance.units import UCUM, base_form
from fhir_server.errors import Issue

QUESTIONNAIRE_EXTENSION = CORE + "questionnaire-"  # the core ones of Questionnaire items
_SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-"


def canonical_text(text: str) -> str:
    """A string answer as it is compared and counted: in Unicode's composed form (NFC), as
    canonically equivalent texts are one text (Unicode's conformance clause C6). `Có` typed
    with combining marks (U+0301), as Vietnamese input methods set to composite Unicode
    write it, is the option `Có`, and `Nguyễn` is six characters however its tone is
    written."""
    return unicodedata.normalize("NFC", text)


def extension_values(element: dict, url: str, key: str) -> list:
    """The `key` values of an element's extensions with `url`, in order."""
    extensions = element.get("extension")
    return [extension[key] for extension in extensions if isinstance(extension, dict)
            and extension.get("url") == url and key in extension] if isinstance(
        extensions, list) else []


def attachment_issues(question: dict, attachment: dict, where: str) -> list[Issue]:
    found = []
    allowed = extension_values(question, CORE + "mimeType", "valueCode")
    given = attachment.get("contentType")
    if allowed and given not in allowed:
        found.append(issue("qr-mime-type", "business-rule", where, given=given,
                           allowed=", ".join(map(str, allowed))))
    most = next(iter(extension_values(question, CORE + "maxSize", "valueDecimal")), None)
    size = _size(attachment)
    if (isinstance(most, Decimal | int | float) and not isinstance(most, bool)
            and size is not None and size > most):
        found.append(issue("qr-too-large", "business-rule", where, size=size, most=most))
    return found


def _size(attachment: dict) -> int | None:
    """The attachment's bytes: its data's, else its stated `size`."""
    data = attachment.get("data")
    if isinstance(data, str):
        try:
            return len(binascii.a2b_base64(data))
        except binascii.Error:
            return None
    return integer(attachment.get("size"))


def integer(value: object) -> int | None:
    """A JSON integer (a limit of a Questionnaire item), not a boolean, which Python counts
    as one: `maxLength: true` is a structure error, not a maximum of 1."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def reference_issues(question: dict, reference: dict, where: str) -> list[Issue]:
    text = reference.get("reference")
    if not isinstance(text, str) or text.startswith(("#", "urn:")):
        return []
    named = None if any(char.isspace() for char in text) else named_resource(text)
    if named is None:
        return [issue("qr-reference-form", "structure", where, reference=text)]
    kind = named[0]
    if kind not in registry().resource_types:
        return [issue("qr-reference-type", "structure", where, kind=kind, reference=text)]
    allowed = extension_values(question, QUESTIONNAIRE_EXTENSION + "referenceResource",
                               "valueCode")
    if allowed and kind not in allowed:
        return [issue("qr-reference-not-allowed", "business-rule", where, kind=kind,
                      reference=text, allowed=", ".join(map(str, allowed)))]
    return []


def quantity_issues(question: dict, quantity: dict, where: str) -> list[Issue]:
    found = []
    units = [unit for unit in extension_values(
        question, QUESTIONNAIRE_EXTENSION + "unitOption", "valueCoding") if isinstance(unit, dict)]
    if units and not any((unit.get("system"), unit.get("code"))
                         == (quantity.get("system"), quantity.get("code")) for unit in units):
        found.append(issue("qr-unit-not-offered", "code-invalid", where, value=_shown(quantity),
                           allowed=", ".join(f"{unit.get('code')}" for unit in units)))
    for name, message, beyond in (("minQuantity", "qr-quantity-below", -1),
                                  ("maxQuantity", "qr-quantity-above", 1)):
        for limit in extension_values(question, _SDC + name, "valueQuantity"):
            if not isinstance(limit, dict):
                continue
            order = compare_quantities(quantity, limit)
            if order is None:
                found.append(issue("qr-quantity-incomparable", "business-rule", where,
                                   value=_shown(quantity), limit=_shown(limit)))
            elif order == beyond:
                found.append(issue(message, "business-rule", where, value=_shown(quantity),
                                   limit=_shown(limit)))
    return found


def compare_values(value: object, other: object) -> int | None:
    """-1, 0 or 1 for two answer values of one type; None when they cannot be ordered.
    Numbers by value, dates and dateTimes as instants (`compare_moments`), times and strings
    as text (`canonical_text`), quantities in UCUM base units (`compare_quantities`);
    Codings and booleans are equal (0) or not (None); a Coding without a system matches any
    of its code."""
    if isinstance(value, bool) or isinstance(other, bool):
        return 0 if value is other else None
    if isinstance(value, dict) and isinstance(other, dict):
        if "value" in value or "value" in other:
            return compare_quantities(value, other)
        same = value.get("code") == other.get("code") and (
            "system" not in other or value.get("system") == other.get("system"))
        return 0 if same else None
    if isinstance(value, str) and isinstance(other, str):
        moments = compare_moments(value, other)
        if moments is not None:
            return moments
        value, other = canonical_text(value), canonical_text(other)
        return (value > other) - (value < other)
    try:
        number, bound = Decimal(str(value)), Decimal(str(other))
    except (InvalidOperation, ValueError):
        return None
    return (number > bound) - (number < bound) if number.is_finite() and bound.is_finite() else None


def compare_quantities(quantity: dict, limit: dict) -> int | None:
    """-1, 0, 1 in UCUM base units (by value when both have the same unit code and system);
    None without units, or in units of other kinds."""
    if (quantity.get("system"), quantity.get("code")) == (limit.get("system"), limit.get("code")
                                                          ) and quantity.get("code"):
        return compare_values(quantity.get("value"), limit.get("value"))
    values = []
    for side in (quantity, limit):
        code, value = side.get("code"), side.get("value")
        form = base_form(code) if side.get("system") == UCUM and isinstance(code, str) else None
        if form is None or not isinstance(value, Decimal | int | float):
            return None
        try:
            values.append((form.key, form.to_base(float(value))))
        except (InvalidOperation, OverflowError, ValueError):
            return None
    (left_key, left), (right_key, right) = values
    # Beyond float's range (1e308 kg in grams) a value is infinite, still larger than any
    # finite one; two infinities or NaN cannot be ordered.
    if left_key != right_key or math.isnan(left) or math.isnan(right) or (
            math.isinf(left) and math.isinf(right)):
        return None
    if math.isclose(left, right, rel_tol=1e-12):
        return 0
    return 1 if left > right else -1


def _shown(quantity: dict) -> str:
    return " ".join(str(part) for part in (quantity.get("value"), quantity.get("unit")
                                           or quantity.get("code")) if part is not None)
