"""`start`/`end` of Patient-everything select by care dates, "not record currency dates"
(operation-patient-everything.html): a document's care date is the period it documents
(`DocumentReference.context.period`, `Composition.event.period`), not when it was written
(`date`)."""

from search.helpers import load

from operations.everything_helpers import everything_pages, page_entries


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
