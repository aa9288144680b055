"""The message catalog's entries (English, Vietnamese) of coded values and their bindings
(http://hl7.org/fhir/R4/terminologies.html#strength: `coded_values.py`,
`profile_bindings.py`, `admin_addresses.py`), and of what references name
(`base_validation.py`, `bundle_rules.py`)."""

BINDING_MESSAGES: dict[str, tuple[str, str]] = {
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
    "binding.no-system": ("(no system)", "(không có system)"),
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
    "not-a-time-unit": (
        "{expression}: '{unit}' is no unit of time, which {type} needs (R4's "
        "http://hl7.org/fhir/ValueSet/all-time-units: 'a' for years, 'mo', 'wk', 'd', 'h', "
        "'min')",
        "{expression}: '{unit}' không phải là đơn vị thời gian, mà kiểu {type} cần (tập giá "
        "trị http://hl7.org/fhir/ValueSet/all-time-units của R4: 'a' là năm, 'mo', 'wk', "
        "'d', 'h', 'min')",
    ),
    "not-a-length-unit": (
        "{expression}: '{unit}' is no unit of length, which {type} needs (R4's "
        "http://hl7.org/fhir/ValueSet/all-distance-units: 'm', 'km', 'cm', '[mi_i]')",
        "{expression}: '{unit}' không phải là đơn vị độ dài, mà kiểu {type} cần (tập giá trị "
        "http://hl7.org/fhir/ValueSet/all-distance-units của R4: 'm', 'km', 'cm', '[mi_i]')",
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
    "code-syntax.icd-10": (
        "a letter and two digits, then optionally a dot and one or two digits: A00, J18.9, "
        "S72.00",
        "một chữ cái và hai chữ số, có thể thêm dấu chấm và một hoặc hai chữ số: A00, J18.9, "
        "S72.00",
    ),
    "code-lacks-syntax": (
        "'{code}' is not a code of {name} ({system}: {syntax})",
        "'{code}' không phải là mã {name} ({system}: {syntax})",
    ),
    "coding-lacks-syntax": (
        "{expression}: {reason}, so it is not in the value set {value_set} of this {strength} "
        "binding",
        "{expression}: {reason}, nên không thuộc tập giá trị {value_set} (ràng buộc {strength})",
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
    "full-url-without-id": (
        "{path}: the fullUrl {full_url} is a RESTful URL of a resource, but the entry's "
        "resource has no id (Bundle.entry.fullUrl: \"SHALL NOT disagree with the id in the "
        "resource\")",
        "{path}: fullUrl {full_url} là URL RESTful của một tài nguyên, nhưng tài nguyên của "
        "mục không có id (Bundle.entry.fullUrl không được khác với id của tài nguyên)",
    ),
}
