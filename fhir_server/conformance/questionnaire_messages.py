"""The message catalog's entries (English, Vietnamese) of a QuestionnaireResponse checked
against its Questionnaire (`questionnaire_answers.py`, `questionnaire_values.py`): worded as
the HL7 validator's, which clients compare with."""

QUESTIONNAIRE_MESSAGES: dict[str, tuple[str, str]] = {
    "qr-questionnaire-unresolved": (
        "The questionnaire '{canonical}' could not be resolved (neither contained nor stored "
        "here), so the answers were not checked against it",
        "Không tìm thấy bảng câu hỏi '{canonical}' (không nằm trong contained, không lưu tại "
        "đây), nên các câu trả lời không được kiểm tra theo nó",
    ),
    "qr-unknown-link": (
        "LinkId '{link}' not found in questionnaire (at this level of {expression})",
        "Không tìm thấy linkId '{link}' trong bảng câu hỏi (ở cấp này của {expression})",
    ),
    "qr-required-missing": (
        "No response answer found for required item '{link}' at {expression}",
        "Không có câu trả lời cho mục bắt buộc '{link}' tại {expression}",
    ),
    "qr-required-group": (
        "No sub-items found for required group '{link}' at {expression}",
        "Nhóm bắt buộc '{link}' tại {expression} không có mục con nào",
    ),
    "qr-one-item": (
        "Only one response item with linkId '{link}' is allowed (the question does not "
        "repeat): {expression}",
        "Chỉ được có một mục trả lời với linkId '{link}' (câu hỏi không lặp lại): {expression}",
    ),
    "qr-not-enabled": (
        "Item has answer, even though it is not enabled (item id = '{link}'): {expression}",
        "Mục có câu trả lời dù không được bật theo enableWhen (linkId = '{link}'): "
        "{expression}",
    ),
    "qr-no-answers": (
        "Items of type {kind} cannot have answers: {expression}",
        "Mục kiểu {kind} không được có câu trả lời: {expression}",
    ),
    "qr-too-few": (
        "The minimum number of answers is {least} but this has {count} answers: {expression}",
        "Số câu trả lời tối thiểu là {least} nhưng ở đây có {count}: {expression}",
    ),
    "qr-too-many": (
        "The maximum number of answers is {most} but this has {count} answers: {expression}",
        "Số câu trả lời tối đa là {most} nhưng ở đây có {count}: {expression}",
    ),
    "qr-answer-type": (
        "Answer value must be of the type {expected} not {given}: {expression}",
        "Giá trị trả lời phải có kiểu {expected}, không phải {given}: {expression}",
    ),
    "qr-code-not-offered": (
        "The code {code} is not in the set of permitted values (answerOption): {expression}",
        "Mã {code} không thuộc các giá trị được phép (answerOption): {expression}",
    ),
    "qr-value-not-offered": (
        "The {kind} {value} is not in the set of permitted values (answerOption): {expression}",
        "Giá trị {kind} {value} không thuộc các giá trị được phép (answerOption): {expression}",
    ),
    "qr-below-minimum": (
        "The value {value} is less than the allowed minimum of {limit}: {expression}",
        "Giá trị {value} nhỏ hơn mức tối thiểu cho phép {limit}: {expression}",
    ),
    "qr-above-maximum": (
        "The value {value} is greater than the allowed maximum of {limit}: {expression}",
        "Giá trị {value} lớn hơn mức tối đa cho phép {limit}: {expression}",
    ),
    "qr-decimal-places": (
        "The value {value} has too many decimal places (limit = {limit}): {expression}",
        "Giá trị {value} có quá nhiều chữ số thập phân (tối đa {limit}): {expression}",
    ),
    "qr-too-short": (
        "The answer '{value}' is shorter than the required minimum length of {limit}: "
        "{expression}",
        "Câu trả lời '{value}' ngắn hơn độ dài tối thiểu {limit}: {expression}",
    ),
    "qr-too-long": (
        "The answer '{value}' is longer than the allowed maximum length of {limit}: "
        "{expression}",
        "Câu trả lời '{value}' dài hơn độ dài tối đa {limit}: {expression}",
    ),
    "qr-exclusive": (
        "Selected answer {code} is an exclusive option: nothing else may be selected with it "
        "({expression})",
        "Câu trả lời {code} là lựa chọn loại trừ: không được chọn thêm gì khác ({expression})",
    ),
    "qr-mime-type": (
        "The mime type {given} is not valid for this answer (allowed = {allowed}): "
        "{expression}",
        "Kiểu MIME {given} không hợp lệ cho câu trả lời này (cho phép: {allowed}): "
        "{expression}",
    ),
    "qr-too-large": (
        "The attachment is too large (allowed = {most}, found = {size} bytes): {expression}",
        "Tệp đính kèm quá lớn (cho phép {most}, thực tế {size} byte): {expression}",
    ),
    "qr-reference-form": (
        "The reference '{reference}' is not a valid reference: {expression}",
        "Tham chiếu '{reference}' không hợp lệ: {expression}",
    ),
    "qr-reference-type": (
        "The resource type {kind} in the reference {reference} is not valid: {expression}",
        "Kiểu tài nguyên {kind} trong tham chiếu {reference} không hợp lệ: {expression}",
    ),
    "qr-reference-not-allowed": (
        "The resource type '{kind}' in the reference {reference} is not allowed (allowed = "
        "{allowed}): {expression}",
        "Kiểu tài nguyên '{kind}' trong tham chiếu {reference} không được phép (cho phép: "
        "{allowed}): {expression}",
    ),
    "qr-unit-not-offered": (
        "The value {value} has a unit that is not one of the unit options (allowed = "
        "{allowed}): {expression}",
        "Giá trị {value} có đơn vị không thuộc các lựa chọn đơn vị (cho phép: {allowed}): "
        "{expression}",
    ),
    "qr-quantity-below": (
        "The quantity {value} is less than the allowed minimum of {limit}: {expression}",
        "Lượng {value} nhỏ hơn mức tối thiểu cho phép {limit}: {expression}",
    ),
    "qr-quantity-above": (
        "The quantity {value} is greater than the allowed maximum of {limit}: {expression}",
        "Lượng {value} lớn hơn mức tối đa cho phép {limit}: {expression}",
    ),
    "qr-quantity-incomparable": (
        "The quantity {value} cannot be compared to the allowed limit {limit}: both need UCUM "
        "codes of the same kind of unit ({expression})",
        "Không thể so sánh lượng {value} với giới hạn {limit}: cả hai cần mã UCUM cùng loại "
        "đơn vị ({expression})",
    ),
    "qr-no-option-of-type": (
        "Option list has no option values of type {kind}: {expression}",
        "Danh sách lựa chọn (answerOption) không có giá trị kiểu {kind}: {expression}",
    ),
    "qr-too-costly": (
        "The Questionnaire's enableWhen conditions need more than 200,000 comparisons with "
        "these answers: the answers were checked only in part",
        "Các điều kiện enableWhen của bảng câu hỏi cần hơn 200.000 phép so sánh với các câu "
        "trả lời này: các câu trả lời chỉ được kiểm tra một phần",
    ),
}
