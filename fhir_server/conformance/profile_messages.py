"""The messages of the profile engine (http://hl7.org/fhir/R4/profiling.html): a profile's
rules a value breaks, and profiles that cannot be applied as written (code `processing`);
part of the catalog of `messages.py`, by message id, in English and Vietnamese."""

# id → (English, Vietnamese)
PROFILE_MESSAGES: dict[str, tuple[str, str]] = {
    # Profiles (http://hl7.org/fhir/R4/profiling.html).
    "profile-min": (
        "{expression} has {count} values, fewer than the profile requires (min {min})",
        "{expression} có {count} giá trị, ít hơn mức hồ sơ (profile) yêu cầu (tối thiểu {min})",
    ),
    "profile-missing": (
        "Missing {expression}: the profile requires it (min {min})",
        "Thiếu {expression}: hồ sơ (profile) bắt buộc phần tử này (tối thiểu {min})",
    ),
    "profile-max": (
        "{expression} has {count} values, more than the profile allows (max {max})",
        "{expression} có {count} giá trị, nhiều hơn mức hồ sơ (profile) cho phép (tối đa {max})",
    ),
    "profile-prohibited": (
        "{expression} is present, but the profile prohibits it (max 0)",
        "{expression} có mặt, nhưng hồ sơ (profile) không cho phép phần tử này (tối đa 0)",
    ),
    "slice-min": (
        "{expression}: {count} values match slice '{slice}', fewer than it requires (min {min})",
        "{expression}: {count} giá trị khớp lát cắt (slice) '{slice}', ít hơn mức yêu cầu (tối "
        "thiểu {min})",
    ),
    "slice-max": (
        "{expression}: {count} values match slice '{slice}', more than it allows (max {max})",
        "{expression}: {count} giá trị khớp lát cắt (slice) '{slice}', nhiều hơn mức cho phép "
        "(tối đa {max})",
    ),
    "slice-closed": (
        "{expression} matches no slice of {element}, and its slicing is closed",
        "{expression} không khớp lát cắt (slice) nào của {element}, mà cách cắt lát là đóng "
        "(closed)",
    ),
    "slice-open-at-end": (
        "{expression} matches no slice of {element} but is followed by values that do: its "
        "slicing is openAtEnd (other values come last)",
        "{expression} không khớp lát cắt (slice) nào của {element} nhưng đứng trước các giá trị "
        "khớp lát cắt: cách cắt lát là openAtEnd (giá trị khác phải ở cuối)",
    ),
    "slice-order": (
        "{expression} matches slice '{slice}' after a value of slice '{previous}': the slices "
        "of {element} are ordered",
        "{expression} khớp lát cắt (slice) '{slice}' nhưng đứng sau một giá trị của lát cắt "
        "'{previous}': các lát cắt của {element} phải theo đúng thứ tự",
    ),
    "type-not-allowed": (
        "{expression} is of type {type}: the profile allows only {allowed}",
        "{expression} có kiểu {type}: hồ sơ (profile) chỉ cho phép {allowed}",
    ),
    "fixed-value": (
        "{expression}: {value} is not the fixed value {fixed}",
        "{expression}: {value} không phải là giá trị cố định {fixed}",
    ),
    "pattern-value": (
        "{expression}: {value} does not match the pattern {pattern}",
        "{expression}: {value} không khớp mẫu (pattern) {pattern}",
    ),
    "max-length": (
        "{expression} has {length} characters, more than the maximum length {max}",
        "{expression} có {length} ký tự, dài hơn độ dài tối đa {max}",
    ),
    "min-value": (
        "{expression}: {value} is less than the minimum {limit}",
        "{expression}: {value} nhỏ hơn giá trị tối thiểu {limit}",
    ),
    "max-value": (
        "{expression}: {value} is more than the maximum {limit}",
        "{expression}: {value} lớn hơn giá trị tối đa {limit}",
    ),
    "reference-target": (
        "{expression}: a reference to a {type}, but the profile allows only {allowed}",
        "{expression}: tham chiếu tới {type}, nhưng hồ sơ (profile) chỉ cho phép {allowed}",
    ),
    "profile-invariant-warning": (
        "{expression} does not meet {key}: {human}",
        "{expression} chưa đáp ứng ràng buộc {key}: {human}",
    ),
    "profile-unknown": (
        "{expression}: profile {target} is not known to this server: the value is not "
        "checked against it",
        "{expression}: máy chủ không có hồ sơ (profile) {target}: giá trị chưa được kiểm tra "
        "theo hồ sơ này",
    ),
    "value-not-conformant": (
        "{expression} does not conform to any of the profiles {targets}",
        "{expression} không tuân thủ hồ sơ (profile) nào trong số {targets}",
    ),
    # Profiles that cannot be applied as written (code `processing`).
    "profile-no-snapshot": (
        "Profile {target} cannot be used: {reason}",
        "Không dùng được hồ sơ (profile) {target}: {reason}",
    ),
    "profile-not-for-type": (
        "Profile {target} constrains {constrained}, not {type}",
        "Hồ sơ (profile) {target} ràng buộc {constrained}, không phải {type}",
    ),
    "profile-element-unknown": (
        "Element {element} of the profile has no definition in the base {type}: its rules are "
        "not checked",
        "Phần tử {element} của hồ sơ (profile) không có trong định nghĩa gốc {type}: các quy "
        "tắc của nó không được kiểm tra",
    ),
    "discriminator-no-value": (
        "Slicing of {element}: discriminator '{path}' is of type {kind}, but slice '{slice}' "
        "has no fixed or pattern value there: the profile is in error, this discriminator is "
        "not used",
        "Cắt lát (slicing) của {element}: bộ phân biệt (discriminator) '{path}' kiểu {kind}, "
        "nhưng lát cắt '{slice}' không có giá trị cố định (fixed) hay mẫu (pattern) tại đó: hồ "
        "sơ (profile) bị lỗi, bộ phân biệt này không được dùng",
    ),
    "discriminator-no-element": (
        "Slicing of {element}: slice '{slice}' has no element at the discriminator path "
        "'{path}' ({kind}): the profile is in error, this discriminator is not used",
        "Cắt lát (slicing) của {element}: lát cắt '{slice}' không có phần tử tại đường dẫn bộ "
        "phân biệt (discriminator) '{path}' ({kind}): hồ sơ (profile) bị lỗi, bộ phân biệt này"
        " không được dùng",
    ),
    "discriminator-not-supported": (
        "Slicing of {element}: discriminator '{path}' ({kind}) is not supported by this "
        "server: it is not used",
        "Cắt lát (slicing) của {element}: máy chủ chưa hỗ trợ bộ phân biệt (discriminator) "
        "'{path}' ({kind}): bộ phân biệt này không được dùng",
    ),
    "slicing-not-checked": (
        "Slicing of {element}: no discriminator can be used, so values are not assigned to "
        "its slices and the slices' rules are not checked",
        "Cắt lát (slicing) của {element}: không dùng được bộ phân biệt (discriminator) nào, nên"
        " giá trị không được gán vào lát cắt và các quy tắc của lát cắt không được kiểm tra",
    ),
}
