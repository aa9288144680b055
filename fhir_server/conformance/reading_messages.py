"""The message catalog's entries (English, Vietnamese) of reading a request's body: its JSON
(http://hl7.org/fhir/R4/json.html) or XML (http://hl7.org/fhir/R4/xml.html), the XHTML of a
narrative (http://hl7.org/fhir/R4/narrative.html#xhtml), and what the body must be for the
interaction (`api/media.py`, `json_format.py`, `xml_parse.py`, `narrative.py`,
`services/interactions.py`). Those whose id ends in a problem's name (`json.extra-data`,
`expat.mismatched-tag`) are the reasons the others embed."""

from xml.parsers.expat import errors as expat_errors

# expat's problems (xml.parsers.expat.errors) that a client's XML can have; English as expat
# says them.
EXPAT_PROBLEMS: dict[str, tuple[str, str]] = {
    "expat.syntax": (expat_errors.XML_ERROR_SYNTAX, "sai cú pháp"),
    "expat.no-element": (expat_errors.XML_ERROR_NO_ELEMENTS, "không có phần tử nào"),
    "expat.invalid-token": (expat_errors.XML_ERROR_INVALID_TOKEN,
                            "sai cú pháp (ký hiệu không hợp lệ)"),
    "expat.unclosed-token": (expat_errors.XML_ERROR_UNCLOSED_TOKEN, "ký hiệu chưa được đóng"),
    "expat.partial-character": (expat_errors.XML_ERROR_PARTIAL_CHAR, "ký tự bị cắt dở"),
    "expat.mismatched-tag": (expat_errors.XML_ERROR_TAG_MISMATCH,
                             "thẻ đóng không khớp với thẻ mở"),
    "expat.duplicate-attribute": (expat_errors.XML_ERROR_DUPLICATE_ATTRIBUTE,
                                  "thuộc tính bị lặp lại"),
    "expat.junk-after-root": (expat_errors.XML_ERROR_JUNK_AFTER_DOC_ELEMENT,
                              "có nội dung thừa sau phần tử gốc"),
    "expat.undefined-entity": (expat_errors.XML_ERROR_UNDEFINED_ENTITY,
                               "thực thể (entity) chưa được định nghĩa"),
    "expat.bad-character-reference": (expat_errors.XML_ERROR_BAD_CHAR_REF,
                                      "tham chiếu tới một mã ký tự không hợp lệ"),
    "expat.misplaced-declaration": (expat_errors.XML_ERROR_MISPLACED_XML_PI,
                                    "khai báo XML hoặc khai báo văn bản không nằm ở đầu thực "
                                    "thể (entity)"),
    "expat.unclosed-cdata": (expat_errors.XML_ERROR_UNCLOSED_CDATA_SECTION,
                             "phần CDATA chưa được đóng"),
    "expat.unbound-prefix": (expat_errors.XML_ERROR_UNBOUND_PREFIX,
                             "tiền tố (prefix) chưa được khai báo"),
    "expat.undeclaring-prefix": (expat_errors.XML_ERROR_UNDECLARING_PREFIX,
                                 "không được hủy khai báo tiền tố (prefix)"),
    "expat.reserved-prefix": (expat_errors.XML_ERROR_RESERVED_PREFIX_XML,
                              "tiền tố dành riêng (xml) không được hủy khai báo hay gắn với "
                              "không gian tên (namespace) khác"),
    "expat.reserved-xmlns": (expat_errors.XML_ERROR_RESERVED_PREFIX_XMLNS,
                             "tiền tố dành riêng (xmlns) không được khai báo hay hủy khai báo"),
    "expat.reserved-namespace": (expat_errors.XML_ERROR_RESERVED_NAMESPACE_URI,
                                 "tiền tố không được gắn với một không gian tên (namespace) "
                                 "dành riêng"),
    "expat.bad-declaration": (expat_errors.XML_ERROR_XML_DECL, "khai báo XML sai cú pháp"),
    "expat.bad-text-declaration": (expat_errors.XML_ERROR_TEXT_DECL,
                                   "khai báo văn bản (text declaration) sai cú pháp"),
    "expat.parameter-entity": (expat_errors.XML_ERROR_PARAM_ENTITY_REF,
                               "tham chiếu thực thể tham số (parameter entity) không hợp lệ"),
    "expat.unknown-encoding": (expat_errors.XML_ERROR_UNKNOWN_ENCODING,
                               "bảng mã (encoding) không xác định"),
    "expat.incorrect-encoding": (expat_errors.XML_ERROR_INCORRECT_ENCODING,
                                 "bảng mã (encoding) khai báo trong phần khai báo XML không "
                                 "đúng"),
}

# The problems Python's JSON reader names (json.decoder, _json.c); English as it says them.
JSON_SYNTAX_PROBLEMS: dict[str, tuple[str, str]] = {
    "json.expecting-value": ("Expecting value", "cần một giá trị JSON"),
    "json.expecting-name": ("Expecting property name enclosed in double quotes",
                            "cần tên thuộc tính đặt trong dấu ngoặc kép"),
    "json.expecting-colon": ("Expecting ':' delimiter", "cần dấu phân cách ':'"),
    "json.expecting-comma": ("Expecting ',' delimiter", "cần dấu phân cách ','"),
    "json.extra-data": ("Extra data", "có dữ liệu thừa sau giá trị JSON"),
    "json.unterminated-string": ("Unterminated string starting at", "chuỗi chưa được đóng"),
    "json.control-character": ("Invalid control character at",
                               "ký tự điều khiển không hợp lệ trong chuỗi"),
    "json.invalid-escape": ("Invalid \\escape", "chuỗi thoát \\ không hợp lệ"),
    "json.invalid-unicode-escape": ("Invalid \\uXXXX escape",
                                    "chuỗi thoát \\uXXXX không hợp lệ"),
    "json.trailing-comma-object": ("Illegal trailing comma before end of object",
                                   "dấu phẩy thừa trước khi kết thúc đối tượng"),
    "json.trailing-comma-array": ("Illegal trailing comma before end of array",
                                  "dấu phẩy thừa trước khi kết thúc mảng"),
}

READING_MESSAGES: dict[str, tuple[str, str]] = {
    **EXPAT_PROBLEMS,
    "expat.other": ("{problem}", "lỗi XML: {problem}"),
    **JSON_SYNTAX_PROBLEMS,
    "json.other-syntax": ("{problem}", "lỗi cú pháp JSON: {problem}"),
    # The body as a whole (api/media.py).
    "body.empty": ("The request body is empty", "Nội dung yêu cầu (body) rỗng"),
    "body.json-too-deep": (
        "The JSON body is nested deeper than {max} levels",
        "Nội dung JSON lồng sâu quá {max} cấp",
    ),
    "body.xml-too-deep": (
        "The XML body nests deeper than the {max} levels its JSON form may have (each "
        "repeating element is two: an array and its item)",
        "Nội dung XML lồng sâu quá {max} cấp mà dạng JSON của nó được phép có (mỗi phần tử "
        "lặp lại tính là hai cấp: một mảng và một phần tử của mảng)",
    ),
    "body.array-too-long": (
        "An array in the body has {length} elements; at most {max} are accepted "
        "(FHIR_MAX_ARRAY_ELEMENTS)",
        "Một mảng trong nội dung yêu cầu (body) có {length} phần tử; máy chủ chỉ nhận tối đa "
        "{max} (FHIR_MAX_ARRAY_ELEMENTS)",
    ),
    "body.not-json": (
        "The body is not valid JSON: {problem}",
        "Nội dung yêu cầu (body) không phải JSON hợp lệ: {problem}",
    ),
    "body.lone-surrogate": (
        "The JSON body has a lone surrogate (an escape like \\ud800 that is no Unicode "
        "character) at {expression}",
        "Nội dung JSON có một surrogate đơn lẻ (một chuỗi thoát như \\ud800, không phải ký tự "
        "Unicode nào) tại {expression}",
    ),
    # What JSON the server reads (json_format.py).
    "json.syntax": (
        "{problem}: line {line} column {column} (char {position})",
        "{problem} (dòng {line}, cột {column}, vị trí {position})",
    ),
    "json.not-utf8": (
        "FHIR JSON is UTF-8 (http://hl7.org/fhir/R4/http.html#mime-type): byte {position} is "
        "not UTF-8",
        "FHIR JSON phải được mã hóa UTF-8 (http://hl7.org/fhir/R4/http.html#mime-type): byte "
        "thứ {position} không phải UTF-8",
    ),
    "json.property-twice": (
        "an object has the property {name} twice",
        "một đối tượng có thuộc tính {name} hai lần",
    ),
    "json.not-a-value": ("{name} is not a JSON value", "{name} không phải là giá trị JSON"),
    "json.beyond-double": (
        "the decimal {number} is beyond ±1.8E308, the largest numbers this server compares",
        "số thập phân {number} vượt quá ±1.8E308, giới hạn lớn nhất của các số mà máy chủ này "
        "so sánh được",
    ),
    "json.decimal-too-precise": (
        "the decimal {number} has more than 34 significant digits or an exponent beyond "
        "±6143: it cannot be kept exactly",
        "số thập phân {number} có hơn 34 chữ số có nghĩa hoặc số mũ vượt quá ±6143: không thể "
        "lưu chính xác",
    ),
    "json.integer-too-long": (
        "the number {number}... has {digits} digits, more than the 34 significant digits a "
        "number is kept with exactly",
        "số {number}... có {digits} chữ số, vượt quá 34 chữ số có nghĩa mà một số có thể được "
        "lưu chính xác",
    ),
    "json.unreadable": ("{problem}", "không đọc được JSON: {problem}"),
    # FHIR XML (xml_rules.py, xml_parse.py).
    "xml.syntax": ("{problem}: line {line}, column {column}",
                   "{problem} (dòng {line}, cột {column})"),
    "xml.not-well-formed": (
        "The body is not well-formed XML: {problem}",
        "Nội dung yêu cầu (body) không phải XML đúng cú pháp (well-formed): {problem}",
    ),
    "xml.not-utf8": (
        "FHIR XML is UTF-8 (http://hl7.org/fhir/R4/http.html#mime-type)",
        "FHIR XML phải được mã hóa UTF-8 (http://hl7.org/fhir/R4/http.html#mime-type)",
    ),
    "xml.byte-not-utf8": (
        "FHIR XML is UTF-8 (http://hl7.org/fhir/R4/http.html#mime-type): byte {position} is "
        "not UTF-8",
        "FHIR XML phải được mã hóa UTF-8 (http://hl7.org/fhir/R4/http.html#mime-type): byte "
        "thứ {position} không phải UTF-8",
    ),
    "xml.declared-encoding": (
        "The XML declaration names encoding=\"{encoding}\"; FHIR XML is UTF-8 "
        "(http://hl7.org/fhir/R4/http.html#mime-type): declare UTF-8, or no encoding",
        "Khai báo XML ghi encoding=\"{encoding}\"; FHIR XML phải được mã hóa UTF-8 "
        "(http://hl7.org/fhir/R4/http.html#mime-type): hãy khai báo UTF-8 hoặc bỏ encoding",
    ),
    "xml.dtd": (
        "FHIR XML must not contain a DTD (<!DOCTYPE>): DTDs and entities are refused "
        "(http://hl7.org/fhir/R4/xml.html)",
        "FHIR XML không được chứa DTD (<!DOCTYPE>): DTD và thực thể (entity) đều bị từ chối "
        "(http://hl7.org/fhir/R4/xml.html)",
    ),
    "xml.external-entity": (
        "External entities are refused in FHIR XML",
        "Thực thể ngoài (external entity) bị từ chối trong FHIR XML",
    ),
    "xml.at-line": ("{problem} (line {line})", "{problem} (dòng {line})"),
    "xml.second-resource": (
        "{location} holds one resource, not also <{name}>",
        "{location} chỉ chứa một tài nguyên, không chứa thêm <{name}>",
    ),
    "xml.not-a-resource-type": (
        "<{name}> is not a FHIR resource type",
        "<{name}> không phải là một loại tài nguyên FHIR",
    ),
    "xml.unknown-element": (
        "Unknown element <{name}> in {parent}",
        "Phần tử <{name}> trong {parent} không xác định",
    ),
    "xml.repeated": (
        "{location} appears more than once (max 1)",
        "{location} xuất hiện nhiều hơn một lần (tối đa 1)",
    ),
    "xml.holder-attributes": (
        "{location} takes no attributes",
        "{location} không nhận thuộc tính nào",
    ),
    "xml.holds-no-resource": (
        "{location} holds no resource",
        "{location} không chứa tài nguyên nào",
    ),
    "xml.no-value": (
        "{location} has neither a value nor extensions",
        "{location} không có giá trị (value) cũng không có extension",
    ),
    "xml.empty": ("{location} is empty", "{location} rỗng"),
    "xml.text": (
        "Text is not allowed in {where}: FHIR XML gives values in value attributes",
        "Không được có văn bản trong {where}: FHIR XML ghi giá trị trong thuộc tính value",
    ),
    "xml.the-document": ("the document", "tài liệu"),
    "xml.wrong-namespace": (
        "<{name}> is in namespace {namespace}, expected {expected} (at {location})",
        "<{name}> thuộc không gian tên (namespace) {namespace}, trong khi cần {expected} (tại "
        "{location})",
    ),
    "xml.no-namespace": (
        "<{name}> is in no namespace, expected {expected} (at {location})",
        "<{name}> không thuộc không gian tên (namespace) nào, trong khi cần {expected} (tại "
        "{location})",
    ),
    "xml.attribute": (
        "Attribute {attribute} is not allowed on {location}",
        "Thuộc tính {attribute} không được phép có trên {location}",
    ),
    "xml.not-boolean": (
        "{location}: {text} is not a boolean (true or false)",
        "{location}: {text} không phải giá trị boolean (true hoặc false)",
    ),
    "xml.not-of-type": ("{location}: {text} is not {kind}",
                        "{location}: {text} không phải giá trị {kind}"),
    "xml.bad-number": ("{location}: {problem}",
                       "Giá trị tại {location} không hợp lệ: {problem}"),
    "xml.div-not-well-formed": (
        "{location} is not well-formed XHTML: {problem}",
        "{location} không phải XHTML đúng cú pháp (well-formed): {problem}",
    ),
    "xml.div-shape": ("{location} must be a {shape}", "{location} phải là một {shape}"),
    # The narrative's XHTML (narrative.py).
    "xhtml.div": ('<div xmlns="{namespace}"> element', 'phần tử <div xmlns="{namespace}">'),
    "xhtml.div-alone": (
        '<div xmlns="{namespace}"> element, not {outside} beside it',
        'phần tử <div xmlns="{namespace}">, không kèm {outside} bên cạnh',
    ),
    "xhtml.xml-declaration": ("an XML declaration", "khai báo XML"),
    "xhtml.comment": ("a comment", "chú thích (comment)"),
    "xhtml.instruction": ("a processing instruction",
                          "chỉ thị xử lý (processing instruction)"),
    "xhtml.cdata": ("a CDATA section", "đoạn CDATA"),
    "xhtml.html-comment": (
        "{what}, which a browser's HTML parser reads as a comment ending at the first '>',",
        "{what}, mà trình phân tích HTML của trình duyệt đọc như một chú thích kết thúc ở dấu "
        "'>' đầu tiên,",
    ),
    "xhtml.comment-ended-at-once": (
        "a comment opened as <!--> or <!--->, which a browser's HTML parser ends right there,",
        "chú thích (comment) mở bằng <!--> hoặc <!--->, mà trình phân tích HTML của trình duyệt "
        "kết thúc ngay tại đó,",
    ),
    "xhtml.not-well-formed": (
        "not well-formed XHTML: {problem}",
        "XHTML không đúng cú pháp (well-formed): {problem}",
    ),
    "xhtml.prefixed": (
        "a narrative's elements have no namespace prefix, not <{name}>: a browser reads it as "
        'HTML, which knows no prefixes (write <div xmlns="{namespace}">)',
        "các phần tử của phần tường thuật không có tiền tố không gian tên (namespace prefix), "
        "không phải <{name}>: trình duyệt đọc nó như HTML, vốn không hiểu tiền tố (hãy viết "
        '<div xmlns="{namespace}">)',
    ),
    "xhtml.not-one-div": ("a narrative is one {shape}", "phần tường thuật phải là một {shape}"),
    "xhtml.forbidden": (
        "{what} is not allowed in a narrative: only basic formatting, no scripts, forms, "
        "frames, objects or event attributes (txt-1)",
        "{what} không được phép có trong phần tường thuật: chỉ được dùng định dạng cơ bản, "
        "không có script, biểu mẫu (form), khung (frame), đối tượng (object) hay thuộc tính sự "
        "kiện (txt-1)",
    ),
    "xhtml.element": ("the element <{name}>", "phần tử <{name}>"),
    "xhtml.attribute": ("the attribute {name} of <{element}>",
                        "thuộc tính {name} của <{element}>"),
    "xhtml.attribute-of-namespace": (
        "the attribute {name} of the namespace {namespace} of <{element}>",
        "thuộc tính {name} thuộc không gian tên (namespace) {namespace} của <{element}>",
    ),
    "xhtml.script-url": (
        "a script URL in the attribute {name} of <{element}>",
        "một URL chạy script trong thuộc tính {name} của <{element}>",
    ),
    "xhtml.no-content": (
        "a narrative should have some non-whitespace content or an image (txt-2)",
        "phần tường thuật nên có nội dung (không chỉ khoảng trắng) hoặc một hình ảnh (txt-2)",
    ),
    # What the body must be for the interaction (services/interactions.py).
    "body.not-object": (
        "The request body must be a JSON object (a FHIR resource)",
        "Nội dung yêu cầu (body) phải là một đối tượng JSON (một tài nguyên FHIR)",
    ),
    "body.no-resource-type": (
        "The body has no resourceType: send the {type} with it",
        "Nội dung yêu cầu (body) không có resourceType: hãy gửi kèm resourceType {type}",
    ),
    "body.other-resource-type": (
        "resourceType '{given}' does not match the URL's '{type}'",
        "resourceType '{given}' không khớp với '{type}' trong URL",
    ),
    "body.update-without-id": (
        "The body has no id: it must have the id in the URL, '{id}'",
        "Nội dung yêu cầu (body) không có id: nó phải có id như trong URL, '{id}'",
    ),
    "body.update-other-id": (
        "The body has the id '{given}': it must have the id in the URL, '{id}'",
        "Nội dung yêu cầu (body) có id '{given}': nó phải có id như trong URL, '{id}'",
    ),
    "body.dot-segment-id": (
        "The id '{id}' cannot be addressed: URLs drop the segments '.' and '..' (RFC 3986 "
        "§5.2.4), so no client could read, update or delete it; choose another id",
        "Không thể dùng id '{id}' làm địa chỉ: URL bỏ các đoạn '.' và '..' (RFC 3986 §5.2.4), "
        "nên không client nào đọc, cập nhật hay xoá được tài nguyên; hãy chọn id khác",
    ),
    "body.other-than-match": (
        "The body's id '{given}' differs from the matched resource '{id}'",
        "id '{given}' của nội dung yêu cầu (body) khác với id '{id}' của tài nguyên khớp điều "
        "kiện",
    ),
    "body.id-not-matched": (
        "No {type} matches '{query}', but the body's id names {type}/{given}, which exists: a "
        "conditional update does not overwrite a resource its criteria did not match",
        "Không có {type} nào khớp '{query}', nhưng id trong nội dung yêu cầu (body) chỉ tới "
        "{type}/{given}, một tài nguyên đang tồn tại: cập nhật có điều kiện (conditional "
        "update) không ghi đè tài nguyên mà điều kiện của nó không khớp",
    ),
    "body.patch-not-parameters": (
        "A PATCH in FHIR JSON or XML is a FHIRPath Patch, whose body is a Parameters resource "
        "(fhirpatch.html); send a JSON Patch as {json_patch}",
        "Yêu cầu PATCH bằng FHIR JSON hoặc XML là một FHIRPath Patch, có nội dung (body) là "
        "một tài nguyên Parameters (fhirpatch.html); hãy gửi JSON Patch dưới dạng {json_patch}",
    ),
    "body.subsetted": (
        "{what} with the SUBSETTED tag: it is a part of a resource (_summary or _elements), "
        "never stored; send the whole resource without the tag (a stored resource that "
        "carries it loses it by $meta-delete)",
        "{what} thẻ SUBSETTED: đây là một phần của tài nguyên (_summary hoặc _elements), "
        "không bao giờ được lưu; hãy gửi toàn bộ tài nguyên, không kèm thẻ này (thẻ được gỡ "
        "khỏi một tài nguyên đã lưu bằng $meta-delete)",
    ),
    "body.created-sent": ("The {type} was sent", "Tài nguyên {type} được gửi kèm"),
    "body.updated-sent": ("{type}/{id} was sent", "Tài nguyên {type}/{id} được gửi kèm"),
    "body.patched": ("{type}/{id} would be patched",
                     "Tài nguyên {type}/{id} sau khi áp dụng PATCH sẽ mang"),
}
