"""The Vietnamese 12-digit personal identification number (số định danh cá nhân, the number
on the CCCD card and the VNeID subject), structured as in Circular 07/2016/TT-BCA:

    PPP C YY NNNNNN
    PPP    province code of the place of birth registration (001-096, 63 codes in use)
    C      century and sex: 0/1 born 1900-1999 male/female, 2/3 2000-2099, ... 8/9 2300-2399
    YY     last two digits of the birth year
    NNNNNN a random serial
"""

import re
from datetime import UTC, date, datetime, timedelta, timezone

#: Province codes (Circular 07/2016/TT-BCA, appendix; the General Statistics Office codes).
PROVINCE_CODES: dict[str, str] = {
    "001": "Hà Nội", "002": "Hà Giang", "004": "Cao Bằng", "006": "Bắc Kạn",
    "008": "Tuyên Quang", "010": "Lào Cai", "011": "Điện Biên", "012": "Lai Châu",
    "014": "Sơn La", "015": "Yên Bái", "017": "Hòa Bình", "019": "Thái Nguyên",
    "020": "Lạng Sơn", "022": "Quảng Ninh", "024": "Bắc Giang", "025": "Phú Thọ",
    "026": "Vĩnh Phúc", "027": "Bắc Ninh", "030": "Hải Dương", "031": "Hải Phòng",
    "033": "Hưng Yên", "034": "Thái Bình", "035": "Hà Nam", "036": "Nam Định",
    "037": "Ninh Bình", "038": "Thanh Hóa", "040": "Nghệ An", "042": "Hà Tĩnh",
    "044": "Quảng Bình", "045": "Quảng Trị", "046": "Thừa Thiên Huế", "048": "Đà Nẵng",
    "049": "Quảng Nam", "051": "Quảng Ngãi", "052": "Bình Định", "054": "Phú Yên",
    "056": "Khánh Hòa", "058": "Ninh Thuận", "060": "Bình Thuận", "062": "Kon Tum",
    "064": "Gia Lai", "066": "Đắk Lắk", "067": "Đắk Nông", "068": "Lâm Đồng",
    "070": "Bình Phước", "072": "Tây Ninh", "074": "Bình Dương", "075": "Đồng Nai",
    "077": "Bà Rịa - Vũng Tàu", "079": "Hồ Chí Minh", "080": "Long An", "082": "Tiền Giang",
    "083": "Bến Tre", "084": "Trà Vinh", "086": "Vĩnh Long", "087": "Đồng Tháp",
    "089": "An Giang", "091": "Kiên Giang", "092": "Cần Thơ", "093": "Hậu Giang",
    "094": "Sóc Trăng", "095": "Bạc Liêu", "096": "Cà Mau",
}

#: Births are registered in Vietnam: "today" is the date in Indochina Time (UTC+07:00).
VIETNAM_TIME = timezone(timedelta(hours=7), "ICT")

_TWELVE_DIGITS = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")


def birth_year(value: str) -> int:
    """The birth year encoded by digits 4-6 (century code, then the year within it) of a
    number that `validate_personal_id` accepted."""
    return 1900 + 100 * (int(value[3]) // 2) + int(value[4:6])


def is_female(value: str) -> bool:
    """Whether a number that `validate_personal_id` accepted is a woman's (odd century code)."""
    return int(value[3]) % 2 == 1


def validate_personal_id(value: str, today: date | None = None) -> str:
    """Return `value` if it is a well-formed personal identification number, else raise
    ValueError saying which rule it breaks."""
    if not isinstance(value, str) or len(value) != 12 or not value.isascii() or not value.isdigit():
        raise ValueError("a personal identification number is exactly 12 ASCII digits")
    if value[:3] not in PROVINCE_CODES:
        raise ValueError(f"{value[:3]} (digits 1-3) is not a province code")
    today = today or datetime.now(UTC).astimezone(VIETNAM_TIME).date()
    year = birth_year(value)
    if year > today.year:
        raise ValueError(
            f"century code {value[3]} with year {value[4:6]} (digits 4-6) means born in {year},"
            " which is in the future"
        )
    return value


def _mask(match: re.Match[str]) -> str:
    digits = match.group()
    return f"{digits[:3]}*******{digits[-2:]}"


def mask_personal_ids(text: str) -> str:
    """Replace every run of exactly 12 digits with its first 3 and last 2 digits around
    `*******`, so that logs never hold a whole personal identification number."""
    return _TWELVE_DIGITS.sub(_mask, text)
