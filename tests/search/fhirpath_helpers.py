"""What the FHIRPath tests share: the official examples and an independent reading of
`resolve() is Type`."""

import re
from pathlib import Path

from fhir_server.search.fhirpath import compile_path

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "fhir-r4" / "examples"


def refers_to(reference: object, target: str, resource: dict) -> bool:
    """Independent check of what `resolve() is target` means for a Reference."""
    text = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(text, str):
        return False
    if text.startswith("#"):
        return any(
            contained.get("id") == text[1:] and contained["resourceType"] == target
            for contained in resource.get("contained", [])
        )
    parts = text.split("/_history/")[0].split("/")
    absolute = text.startswith(("http://", "https://"))
    valid_id = re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", parts[-1])
    return (
        len(parts) >= 2 and parts[-2] == target and bool(valid_id) and (len(parts) == 2 or absolute)
    )


def values(expression: str, context: str, resource: dict) -> list:
    return [node.value for node in compile_path(expression, context)(resource)]
