"""The message catalog of validation: every issue the base validation and the profile
engine report, by message id, in English and Vietnamese (http://hl7.org/fhir/R4/
operationoutcome.html: the id goes into the `operationoutcome-message-id` extension).

Templates use `str.format` fields; values are shown as the validator shows them (`shown`),
the same in both languages. Vietnamese wording follows the usual clinical-informatics terms:
phần tử (element), hồ sơ (profile), tập giá trị (value set), hệ mã (code system), lát cắt
(slice), ràng buộc (constraint/invariant)."""

import re
from collections.abc import Mapping
from typing import Any

from fhir_server.conformance.extension_messages import EXTENSION_MESSAGES
from fhir_server.conformance.profile_messages import PROFILE_MESSAGES
from fhir_server.conformance.questionnaire_messages import QUESTIONNAIRE_MESSAGES
from fhir_server.errors import Issue

# id → (English, Vietnamese)
MESSAGES: dict[str, tuple[str, str]] = {
    **QUESTIONNAIRE_MESSAGES,
    **EXTENSION_MESSAGES,
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
    # Bindings (http://hl7.org/fhir/R4/terminologies.html#strength).
    "code-not-in-value-set": (
        "{expression}: '{code}' is not in the required value set {value_set}",
        "{expression}: '{code}' không thuộc tập giá trị bắt buộc {value_set}",
    ),
    "system-not-in-value-set": (
        "{expression}: the required value set {value_set} takes codes of {systems} only, not "
        "of {system}",
        "{expression}: tập giá trị bắt buộc {value_set} chỉ nhận mã của {systems}, không nhận "
        "mã của {system}",
    ),
    "coding-not-in-value-set": (
        "{expression}: '{code}' is not a code of {system} in the required value set "
        "{value_set}",
        "{expression}: '{code}' không phải là mã của hệ mã {system} trong tập giá trị bắt buộc "
        "{value_set}",
    ),
    "address-unit-outside": (
        "{expression}: the administrative unit {unit} is not within {larger}, which the "
        "address also names",
        "{expression}: đơn vị hành chính {unit} không thuộc {larger}, mà địa chỉ cũng ghi",
    ),
    "system-is-value-set": (
        "{expression}: '{system}' is a value set, not a code system: a Coding's system names "
        "the code system that defines its code",
        "{expression}: '{system}' là một tập giá trị (value set), không phải hệ thống mã: "
        "system của Coding phải là hệ thống mã định nghĩa mã đó",
    ),
    "system-is-supplement": (
        "{expression}: CodeSystem {system} is a supplement, so can't be used as a value in "
        "Coding.system: it adds designations and properties to another code system's codes",
        "{expression}: CodeSystem {system} là một phần bổ sung (supplement), không dùng làm "
        "system của Coding: nó chỉ bổ sung tên gọi và thuộc tính cho mã của hệ thống mã khác",
    ),
    "relative-system": (
        "{expression}: '{system}' is no absolute URI; a system is a URL (http://loinc.org), "
        "an OID or UUID (urn:oid:..., urn:uuid:...) that names it for everyone",
        "{expression}: '{system}' không phải là URI tuyệt đối; hệ thống mã phải là URL "
        "(http://loinc.org) hoặc OID/UUID (urn:oid:..., urn:uuid:...)",
    ),
    "unknown-code-system-version": (
        "{expression}: version {version} of {system} is not held here, so its code cannot be "
        "checked (versions held: {held})",
        "{expression}: máy chủ không có phiên bản {version} của {system}, nên không kiểm tra "
        "được mã (các phiên bản hiện có: {held})",
    ),
    "unknown-code": (
        "{expression}: '{concept_code}' is not a code of {system} (version {version}, held "
        "here in full)",
        "{expression}: '{concept_code}' không phải là mã của {system} (phiên bản {version}, "
        "máy chủ có đầy đủ)",
    ),
    "wrong-display": (
        "{expression}: '{display}' is not a display of {system}#{concept_code} (it is "
        "'{expected}')",
        "{expression}: '{display}' không phải là tên hiển thị của mã {system}#{concept_code} (tên "
        "đúng là '{expected}')",
    ),
    "ucum-invalid": (
        "{expression}: '{unit}' is not a UCUM unit (http://unitsofmeasure.org: e.g. 'ug' for "
        "micrograms, 'meq' for milliequivalents, '/h' for per hour)",
        "{expression}: '{unit}' không phải là đơn vị UCUM (http://unitsofmeasure.org: ví dụ "
        "'ug' là microgam, 'meq' là mili đương lượng, '/h' là mỗi giờ)",
    ),
    "no-code-in-value-set": (
        "{expression}: no code from the required value set {value_set}",
        "{expression}: không có mã nào thuộc tập giá trị bắt buộc {value_set}",
    ),
    "extensible-code-of-included-system": (
        "{expression}: '{code}' of {system} is not in the extensible value set {value_set}, "
        "which has codes of {system}: use one of them",
        "{expression}: mã '{code}' của hệ mã {system} không thuộc tập giá trị mở rộng được "
        "(extensible) {value_set}, trong khi tập này có mã của {system}: hãy dùng một mã trong "
        "đó",
    ),
    "coding-of-another-version": (
        "{expression}: '{code}' of version {version} of {system} is not in the value set "
        "{value_set}, which takes the codes of version {current}",
        "{expression}: mã '{code}' của phiên bản {version} của hệ mã {system} không thuộc tập "
        "giá trị {value_set}, tập này dùng các mã của phiên bản {current}",
    ),
    "coding-of-another-version-mapped": (
        "{expression}: '{code}' of version {version} of {system} is not in the value set "
        "{value_set}, which takes the codes of version {current}; it maps to {mapped} there "
        "({concept_map}, e.g. by ConceptMap/$translate): use that",
        "{expression}: mã '{code}' của phiên bản {version} của hệ mã {system} không thuộc tập "
        "giá trị {value_set}, tập này dùng các mã của phiên bản {current}; mã này tương ứng "
        "với {mapped} trong tập đó ({concept_map}, tra bằng ConceptMap/$translate): hãy dùng "
        "mã đó",
    ),
    "extensible-code-mapped": (
        "{expression}: '{code}' of {system} is not in the extensible value set {value_set}; "
        "it maps to {mapped} there ({concept_map}, e.g. by ConceptMap/$translate): use that",
        "{expression}: mã '{code}' của hệ mã {system} không thuộc tập giá trị mở rộng được "
        "(extensible) {value_set}; mã này tương ứng với {mapped} trong tập đó ({concept_map}, "
        "tra bằng ConceptMap/$translate): hãy dùng mã đó",
    ),
    "extensible-no-code": (
        "{expression}: no code from the extensible value set {value_set} (a code of another "
        "system, or text only)",
        "{expression}: không có mã nào thuộc tập giá trị mở rộng được (extensible) {value_set} "
        "(mã của hệ mã khác, hoặc chỉ có văn bản)",
    ),
    "value-set-not-expandable": (
        "{expression}: the value set {value_set} of this {strength} binding cannot be expanded "
        "on this server: the code is not checked",
        "{expression}: không thể khai triển tập giá trị {value_set} (ràng buộc {strength}) trên "
        "máy chủ này: mã chưa được kiểm tra",
    ),
    "reference-target-base": (
        "{expression}: a reference to a {type}, but {element} allows only {allowed}",
        "{expression}: tham chiếu tới {type}, nhưng {element} chỉ cho phép {allowed}",
    ),
    "reference-type-disagrees": (
        "{path}: the reference names a {named}, but Reference.type says {declared} (they SHALL "
        "be consistent)",
        "{path}: tham chiếu chỉ đến {named}, nhưng Reference.type là {declared} (hai giá trị "
        "phải khớp nhau)",
    ),
    "full-url-disagrees": (
        "{path}: the fullUrl {full_url} names {named}, but the entry's resource is {resource} "
        "(Bundle.entry.fullUrl: \"SHALL NOT disagree with the id in the resource\")",
        "{path}: fullUrl {full_url} chỉ đến {named}, nhưng tài nguyên của mục là {resource} "
        "(Bundle.entry.fullUrl không được khác với id của tài nguyên)",
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
}

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


def issue(message_id: str, issue_code: str, location: str | None = None, /, *,
          severity: str = "error", profile: str | None = None, element_id: str | None = None,
          vi: Mapping[str, object] | None = None, **params: Any) -> Issue:
    """An issue from the catalog at the FHIRPath `location` (also the template's
    `{expression}` unless given); `vi` overrides parameters in the Vietnamese rendering (a
    problem text, a list of words). A profile rule's diagnostics end with the profile URL and
    the element id, in both languages."""
    params.setdefault("expression", location)
    english = MESSAGES[message_id][0].format(**params)
    vietnamese = MESSAGES[message_id][1].format(**{**params, **(vi or {})})
    if profile is not None:
        suffix = _PROFILE if element_id is None else _RULE
        english += suffix[0].format(profile=profile, element_id=element_id)
        vietnamese += suffix[1].format(profile=profile, element_id=element_id)
    return Issue(english, issue_code, severity, (location,) if location else (), profile,
                 element_id, message_id, vietnamese)
