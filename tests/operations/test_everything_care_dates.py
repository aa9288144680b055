"""`start`/`end` of Patient-everything select by care dates, "not record currency dates"
(operation-patient-everything.html): a document's care date is the period it documents
(`DocumentReference.context.period`, `Composition.event.period`), not when it was written
(`date`)."""

from search.helpers import load

from operations.everything_helpers import everything_pages, page_entries

RESOLVED = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "resolved"}]}


def test_a_document_is_placed_by_the_care_it_documents_not_when_it_was_written(client):
    """Records of a 2013 stay scanned in 2024 were left out of 2013 and served for 2024:
    their `date` (when the document was made) was read before their period."""
    ids = load(client, {"thao": {"resourceType": "Patient", "name": [{"family": "Thảo"}]}})
    subject = {"reference": f"Patient/{ids['thao']}"}
    stay = {"start": "2013-04-01", "end": "2013-04-09"}
    ids |= load(client, {
        "scanned": {"resourceType": "DocumentReference", "status": "current",
                    "subject": subject, "date": "2024-05-02T09:00:00+07:00",
                    "content": [{"attachment": {"contentType": "application/pdf",
                                                "url": "http://example.org/giay-ra-vien.pdf"}}],
                    "context": {"period": stay}},
        "summary": {"resourceType": "Composition", "status": "final",
                    "type": {"text": "Tóm tắt bệnh án"}, "subject": subject,
                    "date": "2024-05-02T09:00:00+07:00", "title": "Tóm tắt bệnh án",
                    "author": [{"display": "Phòng Kế hoạch tổng hợp"}],
                    "event": [{"period": stay}]},
    })
    path = f"/Patient/{ids['thao']}/$everything"

    def served(start: str, end: str) -> set[str]:
        entries = page_entries(everything_pages(client, path, {"start": start, "end": end,
                                                               "_type": "DocumentReference,"
                                                                        "Composition"}))
        return {entry["resource"]["id"] for entry in entries}

    assert served("2013-01-01", "2013-12-31") == {ids["scanned"], ids["summary"]}
    assert served("2024-01-01", "2024-12-31") == set()


def test_a_condition_lasts_from_its_onset_until_its_abatement(client):
    """A problem diagnosed in 2010 and still active, or resolved only in 2022, was care in
    2021 too: both were left out of 2021, read by their onset alone."""
    ids = load(client, {"quang": {"resourceType": "Patient", "name": [{"family": "Quang"}]}})
    subject = {"reference": f"Patient/{ids['quang']}"}

    def condition(text: str, **dates) -> dict:
        return {"resourceType": "Condition", "subject": subject, "code": {"text": text},
                **dates}

    ids |= load(client, {
        "diabetes": condition("Đái tháo đường", onsetDateTime="2010-03-01"),
        "hepatitis": condition("Viêm gan B", onsetDateTime="2010-03-01",
                               abatementDateTime="2022-06-30", clinicalStatus=RESOLVED),
        "fracture": condition("Gãy xương", onsetDateTime="2010-03-01", clinicalStatus=RESOLVED,
                              abatementPeriod={"start": "2010-05-01", "end": "2010-08-01"}),
        "later": condition("Tăng huyết áp", onsetDateTime="2023-01-05"),
        # resolved, when not said: its onset is all that places it
        "appendicitis": condition("Viêm ruột thừa", onsetDateTime="2010-03-01",
                                  clinicalStatus=RESOLVED),
        "recorded": condition("Hen", recordedDate="2021-04-01"),
    })
    path = f"/Patient/{ids['quang']}/$everything"

    def served(**params: str) -> set[str]:
        pages = everything_pages(client, path, {**params, "_type": "Condition"})
        return {entry["resource"]["id"] for entry in page_entries(pages)}

    in_2021 = {ids["diabetes"], ids["hepatitis"], ids["recorded"]}
    assert served(start="2021-01-01", end="2021-12-31") == in_2021
    assert served(start="2021-01-01") == in_2021 | {ids["later"]}
    assert served(end="2009-12-31") == set()
    assert served(start="2010-06-01", end="2010-12-31") == {
        ids["diabetes"], ids["hepatitis"], ids["fracture"]}
    assert ids["appendicitis"] in served(start="2010-03-01", end="2010-03-01")
    assert served(start="2011-01-01", end="2011-12-31") == {ids["diabetes"], ids["hepatitis"]}
