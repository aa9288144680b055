"""The message catalog of validation and of batch and transaction processing: every issue
they report, by message id, in English and Vietnamese (http://hl7.org/fhir/R4/
operationoutcome.html: the id goes into the `operationoutcome-message-id` extension), and the
reasons those messages embed (`Phrase`).

Templates use `str.format` fields; values are shown as the validator shows them (`shown`),
the same in both languages. Vietnamese wording follows the usual clinical-informatics terms:
phần tử (element), hồ sơ (profile), tập giá trị (value set), hệ mã (code system), lát cắt
(slice), ràng buộc (constraint/invariant)."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from fhir_server.conformance.binding_messages import BINDING_MESSAGES
from fhir_server.conformance.extension_messages import EXTENSION_MESSAGES
from fhir_server.conformance.profile_messages import PROFILE_MESSAGES
from fhir_server.conformance.questionnaire_messages import QUESTIONNAIRE_MESSAGES
from fhir_server.conformance.reading_messages import READING_MESSAGES
from fhir_server.conformance.transaction_messages import TRANSACTION_MESSAGES
from fhir_server.errors import FhirError, Issue

# id → (English, Vietnamese)
MESSAGES: dict[str, tuple[str, str]] = {
    **QUESTIONNAIRE_MESSAGES,
    **EXTENSION_MESSAGES,
    **BINDING_MESSAGES,
    # Base validation: the resource and its JSON shape (http://hl7.org/fhir/R4/json.html).
    "not-a-resource": (
        "Not a FHIR resource: unknown resourceType {value}",
        "Không phải tài nguyên FHIR: resourceType {value} không xác định",
    ),
    "resource-type-unknown": (
        "Unknown resourceType {value} at {path}: expected a resource type",
        "resourceType {value} tại {path} không xác định: cần một loại tài nguyên FHIR",
    ),
    "resource-type-expected": (
        "Unknown resourceType {value} at {path}: expected {wanted}",
        "resourceType {value} tại {path} không hợp lệ: cần {wanted}",
    ),
    "contained-contains": (
        "A contained resource must not contain resources, at {path} (dom-2)",
        "Tài nguyên được nhúng (contained) không được chứa tài nguyên khác, tại {path} (dom-2)",
    ),
    "reference-malformed": (
        "'{value}' is no relative reference [type]/[id] of a FHIR resource type, nor an "
        "absolute URL (references.html#literal)",
        "'{value}' không phải là tham chiếu tương đối [type]/[id] tới một loại tài nguyên "
        "FHIR, cũng không phải URL tuyệt đối (references.html#literal)",
    ),
    "urn-unresolved": (
        "{reference} names no entry of the Bundle: a urn: reference resolves only within "
        "its Bundle (bundle.html#references)",
        "{reference} không chỉ tới mục nào của Bundle: tham chiếu urn: chỉ được phân giải "
        "bên trong Bundle chứa nó (bundle.html#references)",
    ),
    "full-url-missing": (
        "{path} holds a resource but has no fullUrl: every entry of a {kind} Bundle is "
        "identified by its fullUrl, which the references of the others resolve to "
        "(Bundle.entry.fullUrl \"SHALL have a value\", but for a transaction's POSTs)",
        "{path} chứa một tài nguyên nhưng không có fullUrl: mỗi mục của Bundle {kind} được "
        "định danh bằng fullUrl của nó, nơi các tham chiếu của những mục khác trỏ tới "
        "(Bundle.entry.fullUrl bắt buộc có giá trị, trừ các yêu cầu POST của transaction)",
    ),
    "full-url-relative": (
        "{expression} '{full_url}' is no absolute URI: a fullUrl is \"the absolute URL for the "
        "resource\" (a server's URL, or urn:uuid:/urn:oid:), which references resolve to",
        "{expression} '{full_url}' không phải URI tuyệt đối: fullUrl là URL tuyệt đối của tài "
        "nguyên (URL của một máy chủ, hoặc urn:uuid:/urn:oid:), nơi các tham chiếu trỏ tới",
    ),
    "bundle-request-stored": (
        "A Bundle of type {kind} is a request: it is stored as a resource and nothing in it "
        "is run; POST it to the server's base URL to have its entries processed "
        "(http.html#transaction)",
        "Bundle loại {kind} là một yêu cầu: nó được lưu như một tài nguyên và không mục nào "
        "được thực hiện; hãy gửi (POST) nó tới URL gốc của máy chủ để các mục được xử lý "
        "(http.html#transaction)",
    ),
    "contained-id-twice": (
        "The contained resources {first} and {path} have the same id '{id}': a local "
        "reference #{id} must name one resource (references.html#contained)",
        "Các tài nguyên được nhúng (contained) {first} và {path} có cùng id '{id}': tham chiếu "
        "cục bộ #{id} phải chỉ tới một tài nguyên (references.html#contained)",
    ),
    "contained-no-id": (
        "The contained resource {path} has no id: the resource that contains it refers to it "
        "as #id (dom-3, references.html#contained)",
        "Tài nguyên được nhúng (contained) {path} không có id: tài nguyên chứa nó tham chiếu "
        "tới nó bằng #id (dom-3, references.html#contained)",
    ),
    "contained-unreferenced": (
        "The contained resource {path} is not referenced from the resource that contains it, "
        "nor does it refer to that resource (dom-3)",
        "Tài nguyên được nhúng (contained) {path} không được tham chiếu từ tài nguyên chứa nó, "
        "cũng không tham chiếu tới tài nguyên đó (dom-3)",
    ),
    "too-deep": (
        "{path} is nested deeper than {max} elements",
        "{path} lồng sâu quá {max} cấp phần tử",
    ),
    "choice-twice": (
        "Only one of {path}.{first} and {path}.{key} may be present: {element} takes one type",
        "Chỉ được có một trong hai {path}.{first} và {path}.{key}: {element} chỉ nhận một "
        "kiểu dữ liệu",
    ),
    "missing-required": (
        "Missing required element {expression} (min {min})",
        "Thiếu phần tử bắt buộc {expression} (tối thiểu {min})",
    ),
    "empty-element": (
        "{path} is empty: an element has a value or children (ele-1)",
        "{path} rỗng: mỗi phần tử phải có giá trị hoặc phần tử con (ele-1)",
    ),
    "invariant": (
        "{expression} violates {key}: {human}",
        "{expression} vi phạm ràng buộc {key}: {human}",
    ),
    "reference-not-contained": (
        "Reference {reference} at {path}.reference names no contained resource (ref-1)",
        "Tham chiếu {reference} tại {path}.reference không trỏ tới tài nguyên được nhúng "
        "(contained) nào (ref-1)",
    ),
    "unknown-element": (
        "Unknown element '{key}' at {path}",
        "Phần tử '{key}' tại {path} không xác định",
    ),
    "unknown-element-choice": (
        "Unknown element '{key}' at {path}: {element} takes {names}",
        "Phần tử '{key}' tại {path} không xác định: {element} chỉ nhận {names}",
    ),
    "not-array": (
        "{expression} must be a single value, not an array: {element} has max 1",
        "{expression} phải là một giá trị đơn, không phải mảng: {element} có tối đa 1",
    ),
    "must-be-array": (
        "{expression} must be an array: {element} repeats (max {max})",
        "{expression} phải là một mảng: {element} được lặp lại (tối đa {max})",
    ),
    "empty-array": (
        "{expression} is an empty array: leave the element out instead",
        "{expression} là mảng rỗng: hãy bỏ hẳn phần tử này",
    ),
    "too-many": (
        "{expression} has {count} values, more than {element} allows (max {max})",
        "{expression} có {count} giá trị, nhiều hơn mức {element} cho phép (tối đa {max})",
    ),
    "too-few": (
        "{expression} has {count} values, fewer than {element} needs (min {min})",
        "{expression} có {count} giá trị, ít hơn mức {element} yêu cầu (tối thiểu {min})",
    ),
    "bare-element": (
        "{extra} is not allowed: {expression} is an XML attribute or XHTML in FHIR, with no id "
        "or extensions of its own (XML could not carry them)",
        "{extra} không được phép: {expression} là thuộc tính XML hoặc XHTML trong FHIR, không "
        "có id hay extension riêng (XML không thể mang chúng)",
    ),
    "extra-count": (
        "{extra} must have as many items as {expression} ({extras}, not {values})",
        "{extra} phải có số phần tử bằng {expression} ({extras}, không phải {values})",
    ),
    "null-value": (
        "{expression} is null: FHIR JSON has null only in an array of primitives, where the _"
        " array has an extension at its position",
        "{expression} là null: FHIR JSON chỉ cho phép null trong mảng kiểu nguyên thủy, tại vị "
        "trí mà mảng _ có extension",
    ),
    "invalid-narrative": (
        "Invalid narrative at {expression}: {problem}",
        "Phần tường thuật (narrative) tại {expression} không hợp lệ: {problem}",
    ),
    "invalid-primitive": (
        "Invalid {type} {value} at {expression}: {problem}",
        "Giá trị {type} {value} tại {expression} không hợp lệ: {problem}",
    ),
    "extra-not-object": (
        "{extra} must be an object with the id or extensions of {expression}",
        "{extra} phải là một đối tượng chứa id hoặc extension của {expression}",
    ),
    "not-object": (
        "Invalid value {value} at {expression}: expected a JSON object ({type})",
        "Giá trị {value} tại {expression} không hợp lệ: cần một đối tượng JSON ({type})",
    ),
    "too-many-issues": (
        "... and {left} more issues",
        "... và {left} vấn đề khác",
    ),
    "validation-stopped": (
        "Validation stopped after {count} errors; the rest of the resource was not checked",
        "Việc kiểm tra dừng lại sau {count} lỗi; phần còn lại của tài nguyên chưa được kiểm tra",
    ),
    "issues-dropped": (
        "... and {left} more warnings and notes, not kept",
        "... và {left} cảnh báo và ghi chú khác, không được giữ lại",
    ),
    # Extensions (http://hl7.org/fhir/R4/extensibility.html).
    "uri-relative": (
        "{expression}: {value} is no absolute URI, as the element's definition requires (a "
        "canonical URL, or a urn:)",
        "{expression}: {value} không phải URI tuyệt đối như định nghĩa của phần tử yêu cầu "
        "(một URL chính tắc, hoặc urn:)",
    ),
    # Identifier formats of Vietnamese systems (identifier_systems.py).
    "identifier-format": (
        "{label} {value} at {expression} is not {description}: {problem}",
        "Giá trị {value} ({label}) tại {expression} không phải là {description}: {problem}",
    ),
    "xml-element-order": (
        "<{element}> (line {line}) is out of order: R4 defines it before <{previous}>, and FHIR "
        "XML keeps the definition's order (http://hl7.org/fhir/R4/xml.html). This server reads "
        "it in that order; strict parsers and the HL7 validator refuse it",
        "<{element}> (dòng {line}) sai thứ tự: R4 định nghĩa nó trước <{previous}>, và FHIR XML "
        "giữ đúng thứ tự của định nghĩa (http://hl7.org/fhir/R4/xml.html). Máy chủ này vẫn đọc "
        "theo thứ tự đó; các bộ phân tích nghiêm ngặt và trình kiểm tra HL7 sẽ từ chối",
    ),
    "personal-id-sex": (
        "The personal ID {value} at {expression} is a {other}'s (its 4th digit), and the "
        "resource's gender is {gender}: one of them is mistyped",
        "Số định danh cá nhân {value} tại {expression} là của người {other} (chữ số thứ 4), "
        "còn giới tính của tài nguyên là {gender}: một trong hai bị nhập sai",
    ),
    "personal-id-birth-year": (
        "The personal ID {value} at {expression} is of a person born in {year} (its 4th to "
        "6th digits), and the resource's birthDate is {birth_date}: one of them is mistyped",
        "Số định danh cá nhân {value} tại {expression} là của người sinh năm {year} (chữ số "
        "thứ 4-6), còn ngày sinh của tài nguyên là {birth_date}: một trong hai bị nhập sai",
    ),
    # $validate (http://hl7.org/fhir/R4/resource-operation-validate.html).
    "validate.ok": (
        "No issues detected during validation",
        "Không phát hiện vấn đề nào khi kiểm tra hợp lệ",
    ),
    "validate.update-needs-id": (
        "Validation for an update: the resource needs an id",
        "Kiểm tra hợp lệ cho cập nhật (update): tài nguyên phải có id",
    ),
    "validate.id-mismatch": (
        "The resource's id '{id}' is not the id in the URL '{url_id}'",
        "id '{id}' của tài nguyên khác với id '{url_id}' trong URL",
    ),
    "validate.not-changeable": (
        "{type} resources are never updated or deleted by clients",
        "Máy khách không bao giờ được cập nhật hay xóa tài nguyên {type}",
    ),
    "validate.server-written": (
        "{type} resources are written by the server only: clients do not create them",
        "Tài nguyên {type} chỉ do máy chủ ghi: máy khách không được tạo",
    ),
    "validate.subsetted": (
        "The resource has the SUBSETTED tag: it is a part of a resource (_summary or "
        "_elements), which is never stored",
        "Tài nguyên có thẻ SUBSETTED: đây là một phần của tài nguyên (_summary hoặc "
        "_elements), không bao giờ được lưu",
    ),
    **PROFILE_MESSAGES,
    **READING_MESSAGES,
    **TRANSACTION_MESSAGES,
}
_ENGLISH, _VIETNAMESE = 0, 1

# Suffix of a profile rule's diagnostics, naming the rule (the profile alone for a problem
# of the whole profile).
_RULE = (" (profile {profile}, element {element_id})",
         " (hồ sơ (profile) {profile}, phần tử {element_id})")
_PROFILE = (" (profile {profile})", " (hồ sơ (profile) {profile})")
# Problems of primitive values (primitives.py), from English into Vietnamese: whole
# sentences first, then the words of format descriptions.
_PROBLEMS_VI = (
    (r"^a boolean is JSON true or false$", "giá trị boolean là true hoặc false của JSON"),
    (r"^an? (\w+) is a JSON number without a fraction$", r"\1 là số JSON không có phần lẻ"),
    (r"^an? (\w+) is a JSON string$", r"\1 là chuỗi JSON"),
    (r"^a decimal is a JSON number$", "decimal là một số JSON"),
    (r"^a decimal is a finite number$", "decimal phải là số hữu hạn"),
    (r"^a decimal this large is stored only when written with an exponent \(1e25\)$",
     "decimal lớn như vậy chỉ được lưu khi viết dưới dạng có số mũ (1e25)"),
    (r"^the character (U\+[0-9A-F]{4}) is no FHIR text: only tab, LF and CR may come below "
     r"U\+0020, and U\+FFFE and U\+FFFF are no characters XML can carry$",
     r"ký tự \1 không phải văn bản FHIR: dưới U+0020 chỉ được có tab, LF và CR, còn U+FFFE "
     "và U+FFFF không phải ký tự mà XML mang được"),
    (r"^a string must not be empty \(leave the element out instead\)$",
     "chuỗi không được rỗng (hãy bỏ hẳn phần tử này)"),
    (r"^longer than (\d+) characters$", r"dài hơn \1 ký tự"),
    (r"^not a date of the calendar$", "không phải là một ngày có thật"),
    (r"^expected a valid (\w+)$", r"cần một giá trị \1 hợp lệ"),
    (r"^expected ", "cần có dạng "),
    (r"\(a time needs a zone\)", "(có giờ thì phải có múi giờ)"),
    (r"\(with a time zone\)", "(có múi giờ)"),
    (r"1 to 64 of the characters", "1 đến 64 ký tự"),
    (r"no leading, trailing or double whitespace",
     "không có khoảng trắng ở đầu, ở cuối hay hai khoảng trắng liền nhau"),
    (r"no whitespace", "không có khoảng trắng"),
    (r"and a lower-case UUID", "và một UUID chữ thường"),
    (r" to ", " đến "),
    (r" or ", " hoặc "),
)


def problem_vi(problem: str) -> str:
    """The Vietnamese of a primitive value's problem (`PrimitiveType.problem`)."""
    for pattern, replacement in _PROBLEMS_VI:
        problem = re.sub(pattern, replacement, problem)
    return problem


@dataclass(frozen=True)
class Phrase:
    """A message of the catalog with its parameters, in no language yet: the reason another
    message embeds (`issue(..., problem=phrase(...))`) is said in that message's language.
    `vi` overrides parameters in Vietnamese, as `issue`'s does; `str()` is the English."""

    message_id: str
    params: tuple[tuple[str, object], ...] = ()
    vi: tuple[tuple[str, object], ...] = ()

    def text(self, language: int) -> str:
        """The phrase in English (0) or Vietnamese (1)."""
        params = {**dict(self.params), **(dict(self.vi) if language == _VIETNAMESE else {})}
        return MESSAGES[self.message_id][language].format(**_said(params, language))

    def __str__(self) -> str:
        return self.text(_ENGLISH)


def phrase(message_id: str, /, *, vi: Mapping[str, object] | None = None,
           **params: object) -> Phrase:
    """The phrase `message_id` of the catalog with `params` (hashable values)."""
    return Phrase(message_id, tuple(params.items()), tuple((vi or {}).items()))


def _said(params: Mapping[str, object], language: int) -> dict[str, object]:
    """The parameters of a template, the phrases among them in `language`."""
    return {name: value.text(language) if isinstance(value, Phrase) else value
            for name, value in params.items()}


class PhrasedError(ValueError):
    """A problem worded by the catalog (`phrase`), for the message that reports it to embed
    in its own language; `str()` is the English."""

    def __init__(self, message_id: str, /, *, vi: Mapping[str, object] | None = None,
                 **params: object):
        self.phrase = phrase(message_id, vi=vi, **params)
        super().__init__(str(self.phrase))


def issue(message_id: str, issue_code: str, location: str | None = None, /, *,
          severity: str = "error", profile: str | None = None, element_id: str | None = None,
          vi: Mapping[str, object] | None = None, **params: Any) -> Issue:
    """An issue from the catalog at the FHIRPath `location` (also the template's
    `{expression}` unless given); `vi` overrides parameters in the Vietnamese rendering (a
    problem text, a list of words); a parameter that is a `Phrase` is said in each language.
    A profile rule's diagnostics end with the profile URL and the element id, in both
    languages."""
    params.setdefault("expression", location)
    english = MESSAGES[message_id][_ENGLISH].format(**_said(params, _ENGLISH))
    vietnamese = MESSAGES[message_id][_VIETNAMESE].format(
        **_said({**params, **(vi or {})}, _VIETNAMESE))
    if profile is not None:
        suffix = _PROFILE if element_id is None else _RULE
        english += suffix[0].format(profile=profile, element_id=element_id)
        vietnamese += suffix[1].format(profile=profile, element_id=element_id)
    return Issue(english, issue_code, severity, (location,) if location else (), profile,
                 element_id, message_id, vietnamese)


Refusal = TypeVar("Refusal", bound=FhirError)


def refusal(error: type[Refusal], message_id: str, location: str | None = None, /,
            **params: Any) -> Refusal:
    """`error` (BadRequest, Conflict, ...) with one issue of the catalog, of the error's issue
    code, at `location`."""
    found = issue(message_id, error.code, location, **params)
    return error(found.diagnostics, issues=[found])


def phrased_refusal(error: type[Refusal], said: Phrase) -> Refusal:
    """`error` whose one issue is a phrase of the catalog (a problem of the whole body)."""
    return refusal(error, said.message_id, **dict(said.params), vi=dict(said.vi))
