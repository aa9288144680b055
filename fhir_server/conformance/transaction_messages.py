"""The message catalog's entries (English, Vietnamese) of batch and transaction processing
(http://hl7.org/fhir/R4/http.html#transaction): the Bundle, its entries' requests, what the
entries may have in common, and what each write did (`services/bundles.py`,
`bundle_entries.py`, `bundle_identities.py`, `entry_independence.py`, `references.py`,
`read_budget.py`, `interactions.py`). `{where}` is the entry, `Bundle.entry[3]`."""

TRANSACTION_MESSAGES: dict[str, tuple[str, str]] = {
    # The Bundle (services/bundles.py).
    "bundle.not-a-bundle": (
        "POST to the base URL takes a Bundle",
        "Yêu cầu POST tới URL gốc của máy chủ phải gửi một Bundle",
    ),
    "bundle.not-batch-or-transaction": (
        "Bundle.type must be batch, transaction or history, not '{kind}'",
        "Bundle.type phải là batch, transaction hoặc history, không phải '{kind}'",
    ),
    "bundle.no-type": (
        "The Bundle has no type: a Bundle sent to the base URL is a batch, transaction or "
        "history (Bundle.type)",
        "Bundle không có type: Bundle gửi tới URL gốc phải là batch, transaction hoặc history "
        "(Bundle.type)",
    ),
    "bundle.entry-not-array": ("Bundle.entry must be an array", "Bundle.entry phải là một mảng"),
    "bundle.too-many-entries": (
        "The Bundle has {count} entries; this server accepts at most {max}",
        "Bundle có {count} mục; máy chủ này chỉ nhận tối đa {max} mục",
    ),
    "bundle.operation-in-transaction": (
        "{where}: an operation is not supported in a transaction; send it in a batch",
        "{where}: transaction không hỗ trợ thao tác (operation); hãy gửi nó trong một batch",
    ),
    "bundle.operation-not-here": (
        "{where}: an operation is not supported here; call it directly",
        "{where}: không hỗ trợ thao tác (operation) ở đây; hãy gọi trực tiếp",
    ),
    "bundle.no-operation": (
        "{where}: request.url '{path}' names no operation",
        "{where}: request.url '{path}' không chỉ tới thao tác (operation) nào",
    ),
    "bundle.written-twice-in-batch": (
        "{where}: {target} is written by more than one entry of the batch, whose entries are "
        "independent (the order they would run in is not theirs); send a transaction, or one "
        "of them",
        "{where}: {target} được ghi bởi nhiều mục của batch, trong khi các mục của batch là "
        "độc lập (chúng không quyết định được thứ tự mình được thực hiện); hãy gửi một "
        "transaction, hoặc chỉ một trong các mục đó",
    ),
    "bundle.criteria-match-created": (
        "{where}: its criteria '{criteria}' also match {target}, which this transaction "
        "creates: two entries would be one resource",
        "{where}: điều kiện '{criteria}' của mục này cũng khớp với {target}, tài nguyên mà "
        "transaction này tạo ra: hai mục sẽ trở thành cùng một tài nguyên",
    ),
    # An entry's request (services/bundle_entries.py).
    "entry.create-parameters": (
        "A create takes no parameters in its URL ({names}); send the criteria of a "
        "conditional create in {condition}",
        "Yêu cầu tạo (create) không nhận tham số nào trong URL ({names}); hãy gửi điều kiện "
        "của yêu cầu tạo có điều kiện (conditional create) trong {condition}",
    ),
    "entry.if-none-exist-header": ("the If-None-Exist header", "tiêu đề (header) If-None-Exist"),
    "entry.no-request": ("{where} has no request", "{where} không có phần request"),
    "entry.not-a-string": ("{where}.{name} must be a JSON string",
                           "{where}.{name} phải là một chuỗi JSON"),
    "entry.method-and-url": (
        "{where}.request needs a method ({methods}) and a url",
        "{where}.request cần có method ({methods}) và url",
    ),
    "entry.url-elsewhere": (
        "{where}.request.url '{url}' is not on this server ({base}): an entry's url is "
        "relative to its base, or absolute within it",
        "{where}.request.url '{url}' không thuộc máy chủ này ({base}): url của một mục là "
        "đường dẫn tương đối so với URL gốc, hoặc URL tuyệt đối nằm trong URL gốc đó",
    ),
    "entry.condition-not-for-method": (
        "{where}.request.{condition} applies to {methods} only, not {method}",
        "{where}.request.{condition} chỉ áp dụng cho {methods}, không áp dụng cho {method}",
    ),
    "entry.url-without-type": (
        "{where}.request.url '{url}' names no resource type",
        "{where}.request.url '{url}' không chỉ ra loại tài nguyên nào",
    ),
    "entry.no-interaction": (
        "{where}: {method} {url} is no FHIR interaction",
        "{where}: {method} {url} không phải là một tương tác (interaction) FHIR",
    ),
    "entry.url-no-interaction": (
        "{where}: request.url '{path}' is no FHIR interaction",
        "{where}: request.url '{path}' không phải là một tương tác (interaction) FHIR",
    ),
    "entry.no-resource": ("{where} ({method}) has no resource",
                          "{where} ({method}) không có tài nguyên (resource)"),
    "entry.no-target": (
        "{where}: {method} needs [type]/[id] or [type]?[criteria]",
        "{where}: {method} phải có [type]/[id] hoặc [type]?[criteria]",
    ),
    "entry.url-not-utf8": (
        "{where}.request.url has percent-escapes that are not UTF-8",
        "{where}.request.url có mã thoát phần trăm (percent-escape) không phải UTF-8",
    ),
    "entry.full-url-names-other": (
        "{where}.fullUrl '{full_url}' names {named}, but the resource is {actual}",
        "{where}.fullUrl '{full_url}' chỉ tới {named}, nhưng tài nguyên là {actual}",
    ),
    "entry.full-url-names-other-type": (
        "{where}.fullUrl '{full_url}' names {named}, but the resource is a {type} without id",
        "{where}.fullUrl '{full_url}' chỉ tới {named}, nhưng tài nguyên là một {type} không có "
        "id",
    ),
    "entry.not-an-instant": (
        "{expression} '{value}' is no FHIR instant (like 2024-05-02T08:30:00+07:00)",
        "{expression} '{value}' không phải là một instant FHIR (ví dụ "
        "2024-05-02T08:30:00+07:00)",
    ),
    "entry.not-in-a-bundle": (
        "{where}: {path} is not supported in a Bundle entry (capabilities, system history, an "
        "operation's path beyond its name such as $export-status/...); call it directly",
        "{where}: không hỗ trợ {path} trong một mục của Bundle (capabilities, lịch sử của toàn "
        "hệ thống, đường dẫn của thao tác (operation) kéo dài sau tên của nó như "
        "$export-status/...); hãy gọi trực tiếp",
    ),
    # A PATCH entry's patch (http://hl7.org/fhir/R4/http.html#patch).
    "entry.patch-kind": (
        "{where}: PATCH needs a Parameters (FHIRPath Patch) or a Binary with contentType "
        "application/json-patch+json",
        "{where}: PATCH cần một Parameters (FHIRPath Patch) hoặc một Binary có contentType "
        "application/json-patch+json",
    ),
    "entry.patch-too-deep": (
        "{where}: the JSON Patch is nested deeper than {max} levels",
        "{where}: JSON Patch lồng sâu quá {max} cấp",
    ),
    "entry.patch-invalid": (
        "{where}: the JSON Patch is not valid: {problem}",
        "{where}: JSON Patch không hợp lệ: {problem}",
    ),
    "entry.patch-not-base64": ("Binary.data is not base64",
                               "Binary.data không phải base64 hợp lệ"),
    "entry.patch-lone-surrogate": (
        "{where}: the JSON Patch has a lone surrogate at {at}",
        "{where}: JSON Patch có một surrogate đơn lẻ tại {at}",
    ),
    # What entries may have in common (entry_independence.py, bundle_identities.py,
    # references.py).
    "entry.batch-reference": (
        "{where} refers to {reference}, another entry of the batch: the entries of a batch "
        "are independent; send a transaction to link them",
        "{where} tham chiếu tới {reference}, một mục khác của batch: các mục của batch là độc "
        "lập; hãy gửi một transaction để liên kết chúng",
    ),
    "entry.twice": (
        "{where}: '{key}' appears twice in the transaction",
        "{where}: '{key}' xuất hiện hai lần trong transaction",
    ),
    "entry.resolved-elsewhere": (
        "{where}: resolves to {target} when the transaction is written, but its fullUrl was "
        "resolved to {expected} before; send the entries' conditions alike or as one entry",
        "{where}: khi transaction được ghi, mục này trỏ tới {target}, nhưng trước đó fullUrl "
        "của nó đã được xác định là {expected}; hãy gửi điều kiện giống nhau cho các mục, "
        "hoặc gộp chúng thành một mục",
    ),
    "entry.same-resource": (
        "{where} names {target}, as {other} does: the resources of a transaction's entries "
        "must be distinct",
        "{where} chỉ tới {target}, giống như {other}: tài nguyên của các mục trong một "
        "transaction phải khác nhau",
    ),
    "entry.deleted-twice": ("{where} deletes {target}, as {other} does",
                            "{where} xóa {target}, giống như {other}"),
    "entry.urn-unresolved": (
        "Reference '{reference}' names no entry of this transaction: no entry that creates "
        "or updates a resource has it as fullUrl",
        "Tham chiếu '{reference}' không chỉ tới mục nào của transaction này: không có mục tạo "
        "hay cập nhật tài nguyên nào có fullUrl đó",
    ),
    # How much a Bundle's reads may answer with (read_budget.py).
    "bundle.too-many-operations": (
        "{where}: one Bundle runs at most {max} operations; send the others in another",
        "{where}: một Bundle chỉ chạy tối đa {max} thao tác (operation); hãy gửi các thao tác "
        "còn lại trong một Bundle khác",
    ),
    "bundle.reads-too-large": (
        "{where}: the read entries of one Bundle answer with at most {limit} resources and "
        "{bytes} bytes together, and this one would pass that; send the reads in smaller "
        "Bundles, or page the searches (_count)",
        "{where}: các mục đọc của một Bundle chỉ được trả về tổng cộng tối đa {limit} tài "
        "nguyên và {bytes} byte, và mục này sẽ vượt quá giới hạn đó; hãy gửi các yêu cầu đọc "
        "trong những Bundle nhỏ hơn, hoặc phân trang các tìm kiếm (_count)",
    ),
    # A history Bundle's entries, replicated (services/history_replication.py).
    "history.not-replicated": (
        "{where}: {method} {url} in a history Bundle is no change to replicate: only "
        "creates, updates and patches of a resource (each with the version it made) and "
        "deletes are",
        "{where}: {method} {url} trong một Bundle history không phải là thay đổi có thể sao "
        "chép: chỉ các thao tác tạo, cập nhật, vá (patch) một tài nguyên (mỗi thao tác kèm "
        "phiên bản nó tạo ra) và xóa mới được sao chép",
    ),
    "history.no-version": (
        "{where}: a {method} entry of a history Bundle is replicated from the version it "
        "made, its resource, and it has none",
        "{where}: mục {method} của một Bundle history được sao chép từ phiên bản mà nó tạo "
        "ra (phần resource), nhưng mục này không có",
    ),
    "history.no-id": (
        "{where}: a {method} entry of a history Bundle is replicated to the {type} it names "
        "(by its resource's id, its request.url or its fullUrl), and it names none",
        "{where}: mục {method} của một Bundle history được sao chép vào tài nguyên {type} mà "
        "nó chỉ ra (qua id của resource, request.url hoặc fullUrl), nhưng mục này không chỉ "
        "ra tài nguyên nào",
    ),
    # What a write did (interactions.py: Prefer: return=OperationOutcome, and a batch or
    # transaction's Bundle.entry.response.outcome).
    "write.created": ("{url} created", "Đã tạo {url}"),
    "write.updated": ("{url} updated", "Đã cập nhật {url}"),
    "write.deleted": ("{url} deleted", "Đã xóa {url}"),
    "write.nothing-deleted": ("Nothing to delete: no current resource",
                              "Không có gì để xóa: tài nguyên không tồn tại hoặc đã bị xóa"),
    "write.matched": (
        "{url} matched: nothing was written",
        "{url} khớp với tài nguyên hiện có: không có gì được ghi",
    ),
}
