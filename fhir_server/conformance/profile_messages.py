"""The messages of the profile engine (http://hl7.org/fhir/R4/profiling.html): a profile's
rules a value breaks, profiles that cannot be applied as written (code `processing`) and
why, and claims of profiles that cannot be checked; part of the catalog of `messages.py`, by
message id, in English and Vietnamese."""

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
    "fixed-value-absent": (
        "{expression} has no value, only extensions: the profile requires the value {fixed}",
        "{expression} không có giá trị, chỉ có phần mở rộng (extension): hồ sơ (profile) yêu "
        "cầu giá trị {fixed}",
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
    # Claims of profiles the server cannot check (profiles.py).
    "profile-claim-unknown": (
        "Profile {target} is not known to this server: the {type} was checked against the "
        "base R4 definition only, and its meta.profile claim is kept as sent",
        "Máy chủ không có hồ sơ (profile) {target}: tài nguyên {type} chỉ được kiểm tra theo "
        "định nghĩa gốc của R4, và meta.profile được giữ nguyên như đã gửi",
    ),
    "profile-claim-other-version": (
        "Profile {target}: this server holds version {held} of it, not the one claimed; the "
        "{type} was checked against version {held}, and its meta.profile claim is kept as sent",
        "Hồ sơ (profile) {target}: máy chủ có phiên bản {held} của hồ sơ này, không phải phiên "
        "bản được khai báo; tài nguyên {type} được kiểm tra theo phiên bản {held}, và "
        "meta.profile được giữ nguyên như đã gửi",
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
    # Why (the `reason` of profile-no-snapshot: definitions.py, snapshots.py,
    # snapshot_checks.py, profile_elements.py).
    "profile.not-known": ("it is not known to this server", "máy chủ không có hồ sơ này"),
    "profile.no-snapshot": ("it has no snapshot", "hồ sơ không có snapshot"),
    "profile.depends-on-itself": ("its snapshot depends on itself",
                                  "snapshot của hồ sơ phụ thuộc vào chính nó"),
    "profile.base-unknown": ("base or type {url} is not known",
                             "máy chủ không có định nghĩa gốc (base) hay kiểu {url}"),
    "profile.malformed": ("its differential is malformed ({error})",
                          "differential của hồ sơ bị sai cấu trúc ({error})"),
    "profile.nothing-to-build-on": (
        "it has neither a snapshot nor a baseDefinition and differential",
        "hồ sơ không có snapshot, cũng không có baseDefinition và differential",
    ),
    "profile.specialization": (
        "snapshots of new types (derivation specialization) are not generated here",
        "máy chủ này không tạo snapshot cho kiểu dữ liệu mới (derivation specialization)",
    ),
    "profile.element-without-id": (
        "a differential element has neither id nor path: {element}",
        "một phần tử của differential không có id cũng không có path: {element}",
    ),
    "profile.element-of-another-type": ("{element} is not an element of {root}",
                                        "{element} không phải là phần tử của {root}"),
    "profile.not-in-base": ("{wanted}: {child} is not an element of the base",
                            "{wanted}: {child} không phải là phần tử của định nghĩa gốc"),
    "profile.reslice-of-no-slice": (
        "{slice}: re-slices {origin}, which is not a slice",
        "{slice}: cắt lát lại (re-slice) {origin}, nhưng {origin} không phải là lát cắt",
    ),
    "profile.children-of-choice": (
        "{parent} has types {codes}: its children can be constrained only once it has one",
        "{parent} có các kiểu {codes}: chỉ ràng buộc được các phần tử con khi nó chỉ còn một "
        "kiểu",
    ),
    "profile.max-widens": (
        "{element}: max {max} widens the base's max {base_max}",
        "{element}: max {max} rộng hơn max {base_max} của định nghĩa gốc",
    ),
    "profile.min-above-max": ("{element}: min {min} is above max {max}",
                              "{element}: min {min} lớn hơn max {max}"),
    "profile.type-not-in-base": (
        "{element}: type {type} is not one of the base's types ({allowed})",
        "{element}: kiểu {type} không thuộc các kiểu của định nghĩa gốc ({allowed})",
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
