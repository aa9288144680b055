"""FHIRPath expressions as tokens (http://hl7.org/fhirpath/#grammar), for the parser of
search/fhirpath.py: in linear time, and no deeper than the parser's stack allows."""

import re

from fhir_server.search.fhirpath_elements import UnsupportedExpression

TOKEN = re.compile(r"\s*(?:('[^'\\]*')|(!=|\[\d+\]|[().|=])|(%?[A-Za-z_]\w*))")


def tokenize(expression: str) -> list[str]:
    """One greedy match after another, in linear time: a fullmatch of `(?:TOKEN)*`
    backtracks exponentially over `aaaa…a!`, and FHIRPath Patch paths come from clients."""
    tokens, position = [], 0
    while (match := TOKEN.match(expression, position)) is not None:
        tokens.append(next(group for group in match.groups() if group))
        position = match.end()
    if expression[position:].strip():
        raise UnsupportedExpression(f"unsupported syntax in {expression!r}")
    _check_nesting(tokens, expression)
    return tokens


# Parentheses nested deeper than any expression of the definitions: each level is a few
# frames of the recursive descent, and a path of a client's (FHIRPath Patch) with 200 of
# them ran out of stack (500).
MAX_NESTING = 32


def _check_nesting(tokens: list[str], expression: str) -> None:
    depth = 0
    for token in tokens:
        depth += (token == "(") - (token == ")")
        if depth > MAX_NESTING:
            raise UnsupportedExpression(f"parentheses nested more than {MAX_NESTING} deep in "
                                        f"{expression[:80]!r}")
