"""Vietnamese alphabetical order for `_sort` on strings (http://hl7.org/fhir/R4/search.html#
sort leaves the order of strings to the server): a key whose binary order, MongoDB's, is
that of the Vietnamese alphabet, as CLDR's `vi` collation tailors the Unicode Collation
Algorithm. Letters first: a < ă < â < b < ... < d < đ < e < ê < ... < o < ô < ơ < ... < u <
ư < ..., so "Dương" sorts before "Đặng" and "Anh" before "Ăn" (folding accents away mixed
them). Then tones, where the letters are equal: none < huyền < hỏi < ngã < sắc < nặng
("Ba" < "Bà" < "Bả" < "Bã" < "Bá" < "Bạ"). Then case, lower before upper."""

import unicodedata
from functools import lru_cache

_ALPHABET = "aăâbcdđeêfghijklmnoôơpqrstuưvwxyz"
_LETTERS = {letter: chr(0x41 + index) for index, letter in enumerate(_ALPHABET)}
# Marks that make a letter of its own (ă â ê ô ơ ư), and the tones in dictionary order.
_LETTER_MARKS = frozenset("\u0306\u0302\u031b")
_TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}
_OTHER_MARK = 6  # an accent Vietnamese does not use (ü, å): after the tones
_SPACE, _PUNCTUATION = "\x20", "\x21"  # before digits (0x30-0x39) and letters (0x41-0x61)
_LEVELS = "\x01"  # between primary, secondary and tertiary weights: below every weight
# Latin letters NFD does not split, as CLDR's root sorts them: ø, ł, ð, ħ a letter with a
# mark (U+0338 here), ß, æ, œ, þ the letters they stand for. Đ is Vietnamese's own letter.
_UNSPLIT = str.maketrans({"ø": "o\u0338", "Ø": "O\u0338", "ł": "l\u0338", "Ł": "L\u0338",
                          "ð": "d\u0338", "Ð": "D\u0338", "ħ": "h\u0338", "Ħ": "H\u0338",
                          "ı": "i", "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE",
                          "þ": "th", "Þ": "TH"})
# Characters of a text its key is made of: sorting by them is what HAPI's 200 do, and a key
# of a megabyte's text (three times its length) made a resource too large to store.
_SORTED_LENGTH = 256


def vietnamese_sort_key(text: str) -> str:
    """Its key: compared as binary strings (MongoDB's order), keys order texts as a
    Vietnamese dictionary does. Other scripts come after Latin letters, in code point order."""
    return _sort_key(text[:_SORTED_LENGTH])


# The same texts come again and again (an AuditEvent's agent name and address, a ward's
# name): a key took a fifth of the CPU of indexing an AuditEvent.
@lru_cache(maxsize=4096)
def _sort_key(text: str) -> str:
    primary, tones, cases = [], [], []
    # NFKC first: fullwidth Ａ, the ligature ﬁ and mathematical 𝐀 are the letters they show.
    text = unicodedata.normalize("NFKC", text).translate(_UNSPLIT)
    for base, marks in _clusters(unicodedata.normalize("NFD", text)):
        lower = base.lower()
        letter = unicodedata.normalize(
            "NFC", lower + "".join(mark for mark in marks if mark in _LETTER_MARKS))
        if letter in _LETTERS:
            weight = _LETTERS[letter]
        elif "0" <= base <= "9":
            weight = base
        elif base.isspace():
            weight = _SPACE
        elif lower < "\x80" or unicodedata.category(base)[0] in "PSZC":
            weight = _PUNCTUATION
        else:
            weight = lower
        primary.append(weight)
        tone = max((_TONES.get(mark, _OTHER_MARK) for mark in marks
                    if mark not in _LETTER_MARKS), default=0)
        tones.append(chr(0x21 + tone))
        cases.append("\x22" if base != lower else "\x21")
    return _LEVELS.join(("".join(primary), "".join(tones), "".join(cases)))


def _clusters(decomposed: str) -> list[tuple[str, str]]:
    """Each base character with the combining marks after it."""
    clusters: list[tuple[str, str]] = []
    for char in decomposed:
        if unicodedata.combining(char) and clusters:
            base, marks = clusters[-1]
            clusters[-1] = (base, marks + char)
        elif not unicodedata.combining(char):
            clusters.append((char, ""))
    return clusters
