"""The message catalog's entries (English, Vietnamese) of extensions: their url, value and
nesting, and the definitions they claim (`validation.py`, `extensions.py`)."""

EXTENSION_MESSAGES: dict[str, tuple[str, str]] = {
    "extension-url-relative": (
        "{path}.url '{url}' is no absolute URI: an extension is named by the canonical URL of "
        "its definition; only the parts of a complex extension are named relatively",
        "{path}.url '{url}' không phải URI tuyệt đối: một extension được định danh bằng URL "
        "chính tắc của định nghĩa của nó; chỉ các phần của một extension phức hợp mới dùng tên "
        "tương đối",
    ),
    "extension-value-and-nested": (
        "Extension at {path} has both a value[x] and nested extensions: it has one or the "
        "other (ext-1)",
        "Extension tại {path} có cả value[x] lẫn extension lồng nhau: chỉ được có một trong hai"
        " (ext-1)",
    ),
    "extension-empty": (
        "Extension at {path} has neither a value[x] nor nested extensions (ext-1)",
        "Extension tại {path} không có value[x] cũng không có extension lồng nhau (ext-1)",
    ),
    "extension-value-type": (
        "Extension {url} at {path} takes {allowed}, not {value}",
        "Extension {url} tại {path} nhận {allowed}, không nhận {value}",
    ),
    "extension-no-value": (
        "Extension {url} at {path} takes nested extensions, no value, not {value}",
        "Extension {url} tại {path} chỉ nhận extension lồng nhau, không nhận giá trị {value}",
    ),
    "extension-part-count": (
        "Extension {url} at {path} holds {count} nested '{part}' extensions; its definition "
        "allows {least}..{most}",
        "Extension {url} tại {path} có {count} extension lồng nhau '{part}'; định nghĩa của nó "
        "cho phép {least}..{most}",
    ),
    "extension-part-unknown": (
        "Extension {url} at {path} holds a nested extension '{part}' its definition does not "
        "define: a relative url names one of its parts only",
        "Extension {url} tại {path} chứa extension lồng nhau '{part}' mà định nghĩa của nó "
        "không định nghĩa: url tương đối chỉ được dùng cho các phần của nó",
    ),
    "extension-repeated": (
        "Extension {url} at {path} is given again on the element (first at {first}): its "
        "definition allows it once on any element (max 1)",
        "Extension {url} tại {path} được lặp lại trên cùng phần tử (lần đầu tại {first}): "
        "định nghĩa của nó chỉ cho phép một lần trên mỗi phần tử (max 1)",
    ),
    "extension-not-nested": (
        "Extension {url} at {path} takes a value, not nested extensions",
        "Extension {url} tại {path} nhận một giá trị, không nhận extension lồng nhau",
    ),
    "extension-unknown-core": (
        "Extension {url} at {path} is in the namespace of R4's own extensions, but neither R4 "
        "nor the HL7 extensions pack defines it (misspelled?); readers will not know it",
        "Extension {url} tại {path} thuộc không gian tên của các extension của R4, nhưng cả R4 "
        "lẫn gói extension của HL7 đều không định nghĩa nó (viết sai?)",
    ),
    "extension-definition-unusable": (
        "The definition {url} of the extension at {path} cannot be used ({reason}): the "
        "extension is checked as one this server does not know",
        "Không dùng được định nghĩa {url} của extension tại {path} ({reason}): extension được "
        "kiểm tra như một extension máy chủ này không biết",
    ),
    "extension-modifier-unknown": (
        "The modifier extension {url} at {path} is not known to this server: it changes the "
        "meaning of what holds it, and nothing here can tell how (extensibility.html"
        "#modifierExtension)",
        "Phần mở rộng sửa đổi (modifierExtension) {url} tại {path} không được máy chủ này biết: "
        "nó thay đổi ý nghĩa của phần tử chứa nó, và không thể xác định thay đổi thế nào",
    ),
    "extension-modifier-mismatch": (
        "Extension {url} at {path} {defined}, but it is sent as {sent}",
        "Phần mở rộng {url} tại {path} {defined}, nhưng được gửi dưới dạng {sent}",
    ),
    # What `defined` and `sent` say of the two above.
    "extension.defined-modifier": (
        "is defined as a modifier extension",
        "được định nghĩa là phần mở rộng sửa đổi (modifierExtension)",
    ),
    "extension.defined-not-modifier": (
        "is not defined as a modifier extension",
        "không được định nghĩa là phần mở rộng sửa đổi (modifierExtension)",
    ),
    "extension.sent-modifier": ("a modifierExtension",
                                "phần mở rộng sửa đổi (modifierExtension)"),
    "extension.sent-plain": ("an extension", "phần mở rộng thường (extension)"),
    "extension-modifier-flawed": (
        "Extension {url} at {path} {defined}, but it is sent as {sent}: its guide defines it "
        "so, and it is taken as sent (a guide whose profiles place it otherwise is in error)",
        "Phần mở rộng {url} tại {path} {defined}, nhưng được gửi dưới dạng {sent}: hướng dẫn "
        "triển khai định nghĩa như vậy, và phần mở rộng được nhận như đã gửi (hướng dẫn có "
        "hồ sơ đặt nó chỗ khác là có lỗi)",
    ),
    "extension-context": (
        "Extension {url} at {path} is defined for {contexts}, not {element} ({type})",
        "Extension {url} tại {path} được định nghĩa cho {contexts}, không dùng cho {element} "
        "({type})",
    ),
}
