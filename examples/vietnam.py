"""Vietnamese reference data for the synthetic records: identifier systems, names,
provinces, hospitals, note types and care settings with their typical diagnoses."""

from dataclasses import dataclass

CCCD_SYSTEM = "http://fhir.hl7.org.vn/core/sid/cccd"
BHYT_SYSTEM = "http://fhir.hl7.org.vn/core/sid/bhyt"
MRN_SYSTEM = "http://benhvien-demo.vn/fhir/sid/mrn"
FACILITY_SYSTEM = "http://fhir.hl7.org.vn/core/sid/ma-cskcb"  # mã cơ sở khám chữa bệnh
ICD10_SYSTEM = "http://hl7.org/fhir/sid/icd-10"
LOINC_SYSTEM = "http://loinc.org"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
IDENTIFIER_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"

FAMILY_NAMES = {
    "Nguyễn": 38, "Trần": 11, "Lê": 9.5, "Phạm": 7, "Hoàng": 3, "Huỳnh": 2.1, "Phan": 4.5,
    "Vũ": 2, "Võ": 1.9, "Đặng": 2.1, "Bùi": 2, "Đỗ": 1.4, "Hồ": 1.3, "Ngô": 1.3, "Dương": 1,
    "Lý": 0.5, "Đinh": 0.6, "Trương": 0.6,
}
MIDDLE_NAMES = {
    "male": {"Văn": 40, "Đức": 12, "Minh": 12, "Hữu": 8, "Quốc": 8, "Thành": 8, "Công": 6,
             "Gia": 6},
    "female": {"Thị": 55, "Ngọc": 10, "Thu": 8, "Thanh": 8, "Kim": 6, "Minh": 5, "Bảo": 4,
               "Mỹ": 4},
}
GIVEN_NAMES = {
    "male": ("An", "Bình", "Cường", "Dũng", "Đạt", "Hải", "Hiếu", "Hùng", "Huy", "Khánh",
             "Khoa", "Long", "Nam", "Phúc", "Quân", "Sơn", "Thắng", "Trung", "Tuấn", "Việt",
             "Ân", "Ước", "Thịnh", "Tâm"),
    "female": ("An", "Ánh", "Chi", "Giang", "Hà", "Hạnh", "Hằng", "Hoa", "Hương", "Lan",
               "Linh", "Mai", "Ngân", "Nhung", "Oanh", "Phương", "Quỳnh", "Thảo", "Thủy",
               "Trang", "Vy", "Yến", "Tâm", "Khánh"),
}
STREETS = (
    "Lê Lợi", "Trần Hưng Đạo", "Nguyễn Huệ", "Hai Bà Trưng", "Lý Thường Kiệt", "Nguyễn Trãi",
    "Quang Trung", "Lê Duẩn", "Điện Biên Phủ", "Hùng Vương", "Phan Chu Trinh", "Trần Phú",
    "Ngô Quyền", "Bạch Đằng", "Nguyễn Văn Cừ", "Lê Hồng Phong",
)
MOBILE_PREFIXES = ("32", "33", "34", "35", "36", "37", "38", "39", "70", "76", "77", "78", "79",
                   "81", "82", "83", "84", "85", "86", "88", "89", "90", "91", "92", "93", "94",
                   "96", "97", "98", "99")
MARITAL_STATUSES = {  # v3-MaritalStatus code: (display, Vietnamese text, weight)
    "M": ("Married", "Đã kết hôn", 78), "S": ("Never Married", "Độc thân", 12),
    "D": ("Divorced", "Ly hôn", 4), "W": ("Widowed", "Góa", 6),
}
IDENTIFIER_TYPES = {  # system: (v2-0203 code, display, Vietnamese text)
    CCCD_SYSTEM: ("NI", "National unique individual identifier", "Căn cước công dân"),
    BHYT_SYSTEM: ("HC", "Health Card Number", "Thẻ bảo hiểm y tế"),
    MRN_SYSTEM: ("MR", "Medical record number", "Mã bệnh nhân"),
}
SPECIALTIES = ("đa khoa", "nội khoa", "ngoại khoa", "nhi khoa", "sản phụ khoa", "tim mạch",
               "hồi sức cấp cứu", "truyền nhiễm")


@dataclass(frozen=True)
class Province:
    code: str  # 2-digit administrative code: in BHYT numbers, and zero-padded in CCCD numbers
    name: str
    area_code: str  # landline dialling code
    districts: tuple[str, ...]


HA_NOI = Province("01", "Hà Nội", "24", (
    "Quận Ba Đình", "Quận Hoàn Kiếm", "Quận Đống Đa", "Quận Hai Bà Trưng", "Quận Cầu Giấy",
    "Quận Thanh Xuân", "Quận Long Biên", "Huyện Đông Anh", "Huyện Gia Lâm"))
HO_CHI_MINH = Province("79", "TP. Hồ Chí Minh", "28", (
    "Quận 1", "Quận 3", "Quận 5", "Quận 10", "Quận Bình Thạnh", "Quận Gò Vấp", "Quận Tân Bình",
    "Thành phố Thủ Đức", "Huyện Củ Chi", "Huyện Bình Chánh"))
HAI_PHONG = Province("31", "Hải Phòng", "225", (
    "Quận Hồng Bàng", "Quận Lê Chân", "Quận Ngô Quyền", "Quận Hải An", "Huyện An Dương"))
DA_NANG = Province("48", "Đà Nẵng", "236", (
    "Quận Hải Châu", "Quận Thanh Khê", "Quận Sơn Trà", "Quận Ngũ Hành Sơn", "Huyện Hòa Vang"))
CAN_THO = Province("92", "Cần Thơ", "292", (
    "Quận Ninh Kiều", "Quận Bình Thủy", "Quận Cái Răng", "Quận Ô Môn", "Huyện Phong Điền"))
HUE = Province("46", "Huế", "234", (
    "Quận Phú Xuân", "Quận Thuận Hóa", "Thị xã Hương Thủy", "Thị xã Hương Trà", "Huyện Phú Vang"))
PROVINCES = {HA_NOI: 8.4, HO_CHI_MINH: 9.4, HAI_PHONG: 2.1, DA_NANG: 1.2, CAN_THO: 1.3, HUE: 1.2}


@dataclass(frozen=True)
class Hospital:
    code: str  # synthetic facility code: province code + 3 digits
    name: str
    province: Province
    line: str
    district: str


HOSPITALS = (
    Hospital("01001", "Bệnh viện Bạch Mai", HA_NOI, "Số 78 đường Giải Phóng", "Quận Đống Đa"),
    Hospital("01002", "Bệnh viện Hữu nghị Việt Đức", HA_NOI, "Số 40 phố Tràng Thi",
             "Quận Hoàn Kiếm"),
    Hospital("79001", "Bệnh viện Chợ Rẫy", HO_CHI_MINH, "Số 201B đường Nguyễn Chí Thanh",
             "Quận 5"),
    Hospital("79002", "Bệnh viện Nhân dân 115", HO_CHI_MINH, "Số 527 đường Sư Vạn Hạnh",
             "Quận 10"),
    Hospital("46001", "Bệnh viện Trung ương Huế", HUE, "Số 16 đường Lê Lợi", "Quận Thuận Hóa"),
    Hospital("48001", "Bệnh viện Đà Nẵng", DA_NANG, "Số 124 đường Hải Phòng", "Quận Hải Châu"),
    Hospital("92001", "Bệnh viện Đa khoa Trung ương Cần Thơ", CAN_THO,
             "Số 315 đường Nguyễn Văn Linh", "Quận Ninh Kiều"),
    Hospital("31001", "Bệnh viện Hữu nghị Việt Tiệp", HAI_PHONG, "Số 1 phố Nhà Thương",
             "Quận Lê Chân"),
)

PROGRESS_NOTE = "11506-3"
NOTE_TYPES = {  # LOINC code: (display, Vietnamese title)
    "34133-9": ("Summary of episode note", "Tóm tắt hồ sơ bệnh án"),
    PROGRESS_NOTE: ("Progress note", "Phiếu theo dõi diễn biến bệnh"),
    "18842-5": ("Discharge summary", "Giấy ra viện"),
    "11488-4": ("Consult note", "Phiếu khám chuyên khoa"),
    "34108-1": ("Outpatient Note", "Phiếu khám bệnh ngoại trú"),
    "34111-5": ("Emergency department Note", "Phiếu khám cấp cứu"),
}


@dataclass(frozen=True)
class CareSetting:
    """An encounter class (v3-ActCode) and what typically happens in it."""

    code: str
    display: str
    hours: tuple[int, int]  # when visits start
    minutes: tuple[int, int]  # how long they last
    diagnoses: tuple[tuple[str, str], ...]  # ICD-10 code, Vietnamese display
    note_types: tuple[str, ...]  # LOINC codes of the notes written at the end
    plans: tuple[str, ...]


AMBULATORY = CareSetting("AMB", "ambulatory", (7, 16), (15, 90), (
    ("I10", "Tăng huyết áp vô căn (nguyên phát)"),
    ("E11.9", "Đái tháo đường typ 2, không có biến chứng"),
    ("E78.5", "Tăng lipid máu, không đặc hiệu"),
    ("J06.9", "Nhiễm trùng hô hấp trên cấp, không đặc hiệu"),
    ("K29.7", "Viêm dạ dày, không đặc hiệu"),
    ("M54.5", "Đau vùng thắt lưng"),
    ("J45.9", "Hen phế quản, không đặc hiệu"),
    ("B18.1", "Viêm gan virus B mạn, không có tác nhân delta"),
    ("N39.0", "Nhiễm khuẩn đường tiết niệu, vị trí không xác định"),
), ("34108-1", "11488-4", "34133-9"), (
    "Điều trị ngoại trú theo đơn, tái khám sau 2 tuần.",
    "Hướng dẫn chế độ ăn, tập luyện; dùng thuốc theo đơn, tái khám sau 1 tháng.",
    "Làm thêm xét nghiệm máu, hẹn đọc kết quả sau 3 ngày.",
))
EMERGENCY = CareSetting("EMER", "emergency", (0, 23), (120, 720), (
    ("A91", "Sốt xuất huyết Dengue"),
    ("A09", "Tiêu chảy và viêm dạ dày ruột do nhiễm trùng"),
    ("S06.0", "Chấn động não"),
    ("S52.5", "Gãy đầu dưới xương quay"),
    ("R10.4", "Đau bụng khác và không đặc hiệu"),
    ("T78.4", "Dị ứng, không đặc hiệu"),
    ("I21.9", "Nhồi máu cơ tim cấp, không đặc hiệu"),
), ("34111-5", PROGRESS_NOTE), (
    "Xử trí cấp cứu ổn định, cho về, tái khám khi có dấu hiệu bất thường.",
    "Chuyển khoa nội trú để tiếp tục điều trị.",
    "Theo dõi tại khoa cấp cứu, bù dịch, hạ sốt.",
))
INPATIENT = CareSetting("IMP", "inpatient encounter", (0, 23), (2 * 1440, 12 * 1440), (
    ("J18.9", "Viêm phổi, không đặc hiệu"),
    ("I63.9", "Nhồi máu não, không đặc hiệu"),
    ("K35.8", "Viêm ruột thừa cấp, khác và không đặc hiệu"),
    ("S72.0", "Gãy cổ xương đùi"),
    ("I50.9", "Suy tim, không đặc hiệu"),
    ("J44.1", "Bệnh phổi tắc nghẽn mạn tính có đợt cấp, không đặc hiệu"),
    ("A91", "Sốt xuất huyết Dengue"),
), ("18842-5", "34133-9", PROGRESS_NOTE), (
    "Ra viện, tiếp tục dùng thuốc theo đơn, tái khám sau 1 tuần.",
    "Tiếp tục điều trị nội khoa, theo dõi sát dấu hiệu sinh tồn.",
    "Phẫu thuật thuận lợi, chăm sóc vết mổ, cắt chỉ sau 7 ngày.",
))
CARE_SETTINGS = {AMBULATORY: 70, EMERGENCY: 15, INPATIENT: 15}
CARE_SETTING_BY_CODE = {setting.code: setting for setting in CARE_SETTINGS}
CHRONIC_DIAGNOSES = {"I10", "E11.9", "E78.5", "J45.9", "B18.1", "I50.9", "J44.1"}
