"""The lines that say why a setting stops start-up: one per problem, naming the setting as
it is written in the environment, never a traceback."""

import re

from pydantic import ValidationError
from pydantic_settings import SettingsError

_FIELD = re.compile(r'field "(\w+)"')


def setting_problems(error: ValidationError | SettingsError) -> list[str]:
    """`cannot start: FHIR_NAME: why` lines; a key within a JSON object is named as given
    (`FHIR_REQUIRED_PROFILES.Patient`), and a JSON setting given no JSON says so."""
    if isinstance(error, SettingsError):
        field = _FIELD.search(str(error))
        name = field.group(1).upper() if field else "?"
        return [f"cannot start: FHIR_{name}: not JSON ({error.__cause__ or error})"]
    lines = []
    for problem in error.errors():
        name, *within = (str(part) for part in problem["loc"])
        names = ".".join([name.upper(), *within])
        lines.append(f"cannot start: FHIR_{names}: {problem['msg']}")
    return lines
