"""Splitting search values at the separators the spec lets clients escape with `\\`
(http://hl7.org/fhir/R4/search.html#escaping)."""


def split_escaped(value: str, separator: str, limit: int = -1) -> list[str]:
    """Split at unescaped separators and unescape `\\,` `\\|` `\\$` `\\\\` in the parts."""
    parts, current, escaped = [], [], False
    for char in value:
        if escaped:
            if char not in ",|$\\":
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
