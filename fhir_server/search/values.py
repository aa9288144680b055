"""Splitting search values at the separators the spec lets clients escape with `\\`
(http://hl7.org/fhir/R4/search.html#escaping).

A value is split in stages, `,` (OR) first, then `$` (composite) and `|` (system, units):
every stage but the last keeps the escapes, so that `a\\|b` is one code after the value was
split at its commas, not a system `a` and a code `b`."""

_ESCAPABLE = ",|$\\"


def split_escaped(
    value: str, separator: str, limit: int = -1, keep_escapes: bool = False
) -> list[str]:
    """Split at unescaped separators (at most `limit` times) and unescape `\\,` `\\|` `\\$`
    `\\\\` in the parts, unless `keep_escapes` leaves them for a later stage to split by."""
    if "\\" not in value:  # nothing escaped: as str.split (a search splits ~10 values)
        return value.split(separator, limit) if separator and limit != 0 else [value]
    parts, current, escaped = [], [], False
    for char in value:
        if escaped:
            if keep_escapes or char not in _ESCAPABLE:
                current.append("\\")
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator and limit != 0:
            parts.append("".join(current))
            current = []
            limit -= 1
        else:
            current.append(char)
    if escaped:
        current.append("\\")
    parts.append("".join(current))
    return parts


def unescape(value: str) -> str:
    """The value with `\\,` `\\|` `\\$` `\\\\` unescaped, for a value no stage splits."""
    return split_escaped(value, "", 0)[0]
