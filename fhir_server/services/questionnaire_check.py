"""`$validate` of a QuestionnaireResponse checks its answers against its Questionnaire
(`conformance/questionnaire_answers.py`): the one it contains, or the one stored here with
its canonical URL (and version). A write does not: a patient's answers are stored as given,
as HAPI and the HL7 validator leave this check to validation."""

from fhir_server.conformance.messages import issue
from fhir_server.conformance.questionnaire_answers import answer_issues
from fhir_server.errors import Issue
from fhir_server.services.offloading import run_off_the_loop
from fhir_server.services.terminology import stored_terminology
from fhir_server.storage.resources import ResourceStore


async def questionnaire_issues(store: ResourceStore, response: dict) -> list[Issue]:
    canonical = response.get("questionnaire")
    if not isinstance(canonical, str) or not canonical:
        return []
    questionnaire = _contained(response, canonical)
    if questionnaire is None and not canonical.startswith("#"):
        url, _, version = canonical.partition("|")
        questionnaire = await stored_terminology(store, "Questionnaire", url, version or None)
    if questionnaire is None:
        return [issue("qr-questionnaire-unresolved", "not-found",
                      "QuestionnaireResponse.questionnaire", severity="warning",
                      canonical=canonical)]
    # Off the loop whatever the request's size: a stored Questionnaire may be large.
    return await run_off_the_loop(answer_issues, response, questionnaire)


def _contained(response: dict, canonical: str) -> dict | None:
    """A contained Questionnaire, by `#id` or by its canonical URL."""
    contained = response.get("contained")
    url = canonical.partition("|")[0]
    return next((resource for resource in contained if isinstance(resource, dict)
                 and resource.get("resourceType") == "Questionnaire"
                 and (canonical == f"#{resource.get('id')}" or resource.get("url") == url)),
                None) if isinstance(contained, list) else None
