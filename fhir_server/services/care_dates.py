"""The care dates of Patient-everything's `start`/`end` ("The date range relates to care
dates, not record currency dates", operation-patient-everything.html): which date parameter
places a resource in time, and the filter of the resources whose care overlaps a range."""

from datetime import datetime

from fhir_server.conformance.search_parameters import search_parameters
from fhir_server.search.compiler import missing_filter

# Date parameters that carry a resource's care date, in order of preference (the spec's
# "care dates", not record currency dates). `authoredon` comes before `date`, which on
# MedicationRequest is the dosage timing, not when the order was made; `period` too, which
# on DocumentReference and Composition is the care documented, and `date` when the record
# was written (on MeasureReport and Consent, the period reported on and consented to).
CARE_DATE_PARAMETERS = ("authoredon", "period", "date", "onset-date", "occurrence",
                        "recorded-date", "created", "issued", "authored", "event-date",
                        "effective-time", "effective", "whenhandedover", "collected",
                        "started", "sent", "datetime", "start-date", "identified",
                        "datewritten")
# A care date that begins a span, the parameter of the date that ends it, and the token
# parameter whose codes say it ended without that date: a Condition lasts from its onset
# until its abatement, and on while it has none unless its clinical status is over.
_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_CARE_ENDS = {"onset-date": ("abatement-date", "clinical-status",
                             tuple(f"sc:{_CLINICAL}|{code}"
                                   for code in ("inactive", "remission", "resolved")))}


def care_date_parameters(resource_type: str) -> list[str]:
    """The date parameters that may carry a type's care date, in order of preference: a
    resource's care date is the first of them it has (a ServiceRequest's `occurrence`, else
    its `authored`; a DiagnosticReport's `date`, else `issued`)."""
    parameters = search_parameters(resource_type)
    return [code for code in CARE_DATE_PARAMETERS
            if code in parameters and parameters[code].type == "date"]


def care_date_within(resource_type: str, care_dates: list[str], start: datetime | None,
                     end: datetime | None) -> dict:
    """Resources whose care date (the first of `care_dates` they have) overlaps `start` to
    `end`; those with none cannot be placed in time, and stay in."""
    parameters = search_parameters(resource_type)
    lacking = [missing_filter(parameters[code], f"search.{code}", True) for code in care_dates]
    by_first = [{"$and": [*lacking[:index], _overlapping(parameters, code, start, end)]}
                for index, code in enumerate(care_dates)]
    return {"$or": [*by_first, {"$and": lacking}]}


def _overlapping(parameters: dict, code: str, start: datetime | None,
                 end: datetime | None) -> dict:
    """Resources whose care date `code` overlaps `start` to `end`. A care date that begins a
    span lasting until another parameter's date (a Condition's onset, until its abatement)
    overlaps from the one to the other, and on while that is not known and it is not over
    (an active problem diagnosed years before `start`; not a resolved one)."""
    ends, status, over = _CARE_ENDS.get(code, ("", "", ()))
    if ends not in parameters or status not in parameters or start is None:
        overlap: dict = {}
        if start is not None:
            overlap["hi"] = {"$gte": start}
        if end is not None:
            overlap["lo"] = {"$lte": end}
        return {f"search.{code}": {"$elemMatch": overlap}}
    reaching = {"hi": {"$gte": start}}
    clauses = [] if end is None else [{f"search.{code}": {"$elemMatch": {"lo": {"$lte": end}}}}]
    has_care_date = missing_filter(parameters[code], f"search.{code}", False)
    return {"$and": [*clauses, has_care_date, {"$or": [
        {f"search.{code}": {"$elemMatch": reaching}},
        {f"search.{ends}": {"$elemMatch": reaching}},
        {"$and": [missing_filter(parameters[ends], f"search.{ends}", True),
                  {f"search.{status}": {"$nin": list(over)}}]},
    ]}]}
