"""The syntax of the codes of external code systems whose content this server does not hold
(http://hl7.org/fhir/R4/terminologies-systems.html): no code can be found in them here, but
a code without their syntax cannot be one of theirs, so it is in no value set, not even one
that takes the whole system (`vn-core-condition-code` takes all of ICD-10)."""

import re
from dataclasses import dataclass

from fhir_server.conformance.messages import Phrase, phrase

ICD_10 = "http://hl7.org/fhir/sid/icd-10"


@dataclass(frozen=True)
class CodeSyntax:
    name: str
    pattern: re.Pattern[str]
    form: str  # the message id of the syntax in words


# WHO ICD-10 (not ICD-10-CM), as Vietnam uses it (QĐ 4469/QĐ-BYT): a category of a letter
# and two digits (I10), a subcategory after a dot (J18.9, U07.1), and the fifth character
# some chapters add (the site in XIII: M25.56; open or closed in XIX: S72.00).
SYNTAXES: dict[str, CodeSyntax] = {
    ICD_10: CodeSyntax("ICD-10", re.compile(r"[A-Z][0-9]{2}(?:\.[0-9]{1,2})?"),
                       "code-syntax.icd-10"),
}


def syntax_refutes(system: str, code: str) -> Phrase | None:
    """Why `code` cannot be a code of `system`: it lacks the system's syntax. None when it
    has it, or no syntax of the system is known here."""
    syntax = SYNTAXES.get(system)
    if syntax is None or syntax.pattern.fullmatch(code):
        return None
    return phrase("code-lacks-syntax", code=code, name=syntax.name, system=system,
                  syntax=phrase(syntax.form))
