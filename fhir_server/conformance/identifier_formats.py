"""Format rules of Vietnamese identifier values: the 12-digit personal identification number
(CCCD), the old identity card (CMND), health insurance (BHYT) and social insurance (BHXH)
numbers, and Vietnamese passports. Each rule says why a value breaks it, or nothing.

The personal identification number (số định danh cá nhân, the number on the CCCD card and
the VNeID subject) is structured as in Circular 07/2016/TT-BCA:

    PPP C YY NNNNNN
    PPP    province code of the place of birth registration (001-096, 63 codes in use)
    C      century and sex: 0/1 born 1900-1999 male/female, 2/3 2000-2099, ... 8/9 2300-2399
    YY     last two digits of the birth year
    NNNNNN a random serial
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import NamedTuple

#: Province codes (Circular 07/2016/TT-BCA, appendix; the General Statistics Office codes
#: of the 63 provinces before 1 July 2025, which numbers issued until then keep).
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

#: Beneficiary group codes (mã đối tượng), the first two characters of a 15-character BHYT
#: card: the closed list of Decision 1351/QĐ-BHXH (2015) on BHYT card numbers.
BHYT_GROUP_CODES = frozenset({
    "DN", "HX", "CH", "NN", "TK", "HC", "XK", "HT", "TB", "NO", "CT", "XB", "TN", "CS",
    "QN", "CA", "CY", "XN", "MS", "CC", "CK", "CB", "KC", "HD", "TE", "BT", "HN", "DT",
    "DK", "XD", "TS", "TC", "TQ", "TA", "TY", "HG", "LS", "PV", "CN", "HS", "SV", "GB", "GD",
})

_CMND = re.compile(r"[0-9]{9}|[0-9]{12}")
_BHXH = re.compile(r"[0-9]{10}")
_BHYT_CARD = re.compile(r"[A-Za-z]{2}[0-9]{13}")
_VIETNAMESE_PASSPORT = re.compile(r"[A-Z][0-9]{7}")


def birth_year(value: str) -> int:
    """The birth year encoded by digits 4-6 (century code, then the year within it) of a
    number that `validate_personal_id` accepted."""
    return 1900 + 100 * (int(value[3]) // 2) + int(value[4:6])


def is_female(value: str) -> bool:
    """Whether a number that `validate_personal_id` accepted is a woman's (odd century code)."""
    return int(value[3]) % 2 == 1


class Problem(NamedTuple):
    """How a value breaks a format rule, in English and in Vietnamese."""

    en: str
    vi: str


def _personal_id_problem(value: object, today: date | None = None) -> Problem | None:
    if not isinstance(value, str) or len(value) != 12 or not value.isascii() or not value.isdigit():
        return Problem("a personal identification number is exactly 12 ASCII digits",
                       "số định danh cá nhân gồm đúng 12 chữ số")
    if value[:3] not in PROVINCE_CODES:
        return Problem(f"{value[:3]} (digits 1-3) is not a province code",
                       f"{value[:3]} (chữ số 1-3) không phải là mã tỉnh")
    today = today or datetime.now(UTC).astimezone(VIETNAM_TIME).date()
    year = birth_year(value)
    if year > today.year:
        return Problem(
            f"century code {value[3]} with year {value[4:6]} (digits 4-6) means born in {year},"
            " which is in the future",
            f"mã thế kỷ {value[3]} với năm {value[4:6]} (chữ số 4-6) nghĩa là sinh năm {year}, "
            "năm chưa tới")
    return None


def validate_personal_id(value: str, today: date | None = None) -> str:
    """Return `value` if it is a well-formed personal identification number, else raise
    ValueError saying which rule it breaks."""
    if (problem := _personal_id_problem(value, today)) is not None:
        raise ValueError(problem.en)
    return value


def personal_id_problem(value: str) -> Problem | None:
    return _personal_id_problem(value)


def cmnd_problem(value: str) -> Problem | None:
    return None if _CMND.fullmatch(value) else _length(value)


def bhxh_problem(value: str) -> Problem | None:
    return None if _BHXH.fullmatch(value) else _length(value)


# The card issuers beside the provinces: the social insurance agencies of the Ministry of
# National Defence (97) and of the People's Public Security (98), which issue the cards of
# the QN, CA and CY groups.
_BHYT_AGENCY_CODES = frozenset({"97", "98"})


def bhyt_card_problem(value: str) -> Problem | None:
    """The 15-character card (Decision 1351/QĐ-BHXH): beneficiary group code, benefit level
    1-5, the code of the issuer (a pre-2025 province, or the social insurance of the army or
    the police), then the 10-digit BHXH code."""
    if not _BHYT_CARD.fullmatch(value):
        return Problem("a 15-character card is 2 letters and 13 digits",
                       "mã thẻ 15 ký tự gồm 2 chữ cái và 13 chữ số")
    if value[:2] not in BHYT_GROUP_CODES and value[:2].upper() in BHYT_GROUP_CODES:
        return Problem(f"'{value[:2]}' is in lower case: group codes are written "
                       f"'{value[:2].upper()}'", f"'{value[:2]}' viết thường: mã đối tượng "
                       f"được viết in hoa, '{value[:2].upper()}'")
    if value[:2] not in BHYT_GROUP_CODES:
        return Problem(f"'{value[:2]}' is not a beneficiary group code (Decision 1351/QĐ-BHXH)",
                       f"'{value[:2]}' không phải là mã đối tượng (Quyết định 1351/QĐ-BHXH)")
    if value[2] not in "12345":
        return Problem(f"benefit level {value[2]} (character 3) is not 1-5",
                       f"mức hưởng {value[2]} (ký tự 3) không thuộc 1-5")
    if "0" + value[3:5] not in PROVINCE_CODES and value[3:5] not in _BHYT_AGENCY_CODES:
        return Problem(f"{value[3:5]} (characters 4-5) is not a province code",
                       f"{value[3:5]} (ký tự 4-5) không phải là mã tỉnh")
    return None


def bhyt_problem(value: str) -> Problem | None:
    """A BHYT number in one of the forms in use since 2025: the 12-digit personal
    identification number, the 10-digit BHXH code (cards since Decision 1666/QĐ-BHXH,
    2020), or the older 15-character card."""
    if len(value) == 12:
        return personal_id_problem(value)
    if len(value) == 10:
        return bhxh_problem(value)
    if len(value) == 15:
        return bhyt_card_problem(value)
    return Problem(f"it has {len(value)} characters, not 10, 12 or 15",
                   f"có {len(value)} ký tự, không phải 10, 12 hay 15")


def vietnamese_passport_problem(value: str) -> Problem | None:
    if _VIETNAMESE_PASSPORT.fullmatch(value):
        return None
    if len(value) != 8:
        return Problem(f"it has {len(value)} characters, not 8",
                       f"có {len(value)} ký tự, không phải 8")
    if not ("A" <= value[0] <= "Z"):
        return Problem(f"{value[0]!r} (character 1) is not a capital letter",
                       f"{value[0]!r} (ký tự 1) không phải chữ cái in hoa")
    return Problem("characters 2-8 are not all digits", "ký tự 2-8 không phải đều là chữ số")


def _length(value: str) -> Problem:
    if value.isascii() and value.isdigit():
        return Problem(f"it has {len(value)} digits", f"có {len(value)} chữ số")
    if value:
        return Problem(f"it has {len(value)} characters, not only digits",
                       f"có {len(value)} ký tự, không chỉ chữ số")
    return Problem("it has no characters", "không có ký tự nào")


@dataclass(frozen=True)
class FormatRule:
    """What the values of an identifier system look like: `problem(value)` says how a value
    breaks the rule, None when it follows it."""

    description: str  # completes "<value> is not ..."
    problem: Callable[[str], Problem | None]
    description_vi: str  # the same in Vietnamese


PERSONAL_ID = FormatRule(
    "a personal identification number (12 digits: province, century and sex, birth year, "
    "serial; Circular 07/2016/TT-BCA)", personal_id_problem,
    "số định danh cá nhân (12 chữ số: mã tỉnh, mã thế kỷ và giới tính, năm sinh, số ngẫu "
    "nhiên; Thông tư 07/2016/TT-BCA)")
CMND = FormatRule("an identity card number of 9 or 12 digits", cmnd_problem,
                  "số chứng minh nhân dân gồm 9 hoặc 12 chữ số")
BHXH = FormatRule("a social insurance code of 10 digits", bhxh_problem,
                  "mã số bảo hiểm xã hội gồm 10 chữ số")
BHYT = FormatRule(
    "in any of the three forms (a 12-digit personal identification number, a 10-digit BHXH "
    "code, or a 15-character card: beneficiary group code, benefit level 1-5, province "
    "code, BHXH code)", bhyt_problem,
    "mã thẻ BHYT theo một trong ba dạng (số định danh cá nhân 12 chữ số, mã số BHXH 10 chữ "
    "số, hoặc mã thẻ 15 ký tự: mã đối tượng, mức hưởng 1-5, mã tỉnh, mã số BHXH)")
VIETNAMESE_PASSPORT = FormatRule(
    "a Vietnamese passport number (one capital letter and 7 digits)", vietnamese_passport_problem,
    "số hộ chiếu Việt Nam (một chữ cái in hoa và 7 chữ số)")
