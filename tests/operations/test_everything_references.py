"""What `Patient/[id]/$everything` and `Encounter/[id]/$everything` bring beside the record:
"whatever resources are needed to support the records - e.g. linked practitioners,
medications, locations, organizations etc."
(http://hl7.org/fhir/R4/patient-operation-everything.html), referenced from any element,
those of contained resources included, not only from elements a search parameter indexes
(probe CH: an Encounter's `hospitalization.origin`, a Composition's `custodian` and a
contained Medication's `manufacturer` were left out)."""

from search.helpers import load

from operations.everything_helpers import everything_pages, page_entries

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SUPPORTING = {
    "khoa": {"resourceType": "Organization", "name": "Bệnh viện Chợ Rẫy"},
    "cap_cuu": {"resourceType": "Location", "name": "Khoa Cấp cứu"},
    "hoi_suc": {"resourceType": "Location", "name": "Khoa Hồi sức tích cực"},
    "luu_tru": {"resourceType": "Organization", "name": "Phòng Kế hoạch tổng hợp"},
    "nha_sx": {"resourceType": "Organization", "name": "Công ty Dược Hậu Giang"},
    "noi_khac": {"resourceType": "Organization", "name": "Tổ chức mang cùng id ở máy khác"},
}


def _stay(ids: dict[str, str]) -> dict:
    """An inpatient stay: its origin by reference, its destination by a version's."""
    return {"resourceType": "Encounter", "status": "finished",
            "class": {"system": ACT_CODE, "code": "IMP"},
            "subject": {"reference": f"Patient/{ids['benh_nhan']}"},
            "serviceProvider": {"reference": f"Organization/{ids['khoa']}"},  # indexed
            "hospitalization": {
                "origin": {"reference": f"Location/{ids['cap_cuu']}"},
                "destination": {"reference": f"Location/{ids['hoi_suc']}/_history/1"}}}


def _record(ids: dict[str, str], base: str) -> dict:
    """The stay, a discharge note whose custodian is named by this server's URL and a
    prescription of a contained Medication; references to another server and to the
    contained resource besides."""
    patient = {"reference": f"Patient/{ids['benh_nhan']}"}
    return {
        "stay": _stay(ids),
        "note": {
            "resourceType": "Composition", "status": "final", "type": {"text": "Giấy ra viện"},
            "subject": patient, "date": "2024-05-02", "title": "Giấy ra viện",
            "author": [{"reference": f"Organization/{ids['khoa']}"}],
            "custodian": {"reference": f"{base}/Organization/{ids['luu_tru']}"},
            "relatesTo": [{"code": "appends", "targetReference": {
                "reference": f"https://elsewhere.example/fhir/Organization/{ids['noi_khac']}"}}]},
        "order": {
            "resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "subject": patient, "medicationReference": {"reference": "#thuoc"},
            "contained": [{"resourceType": "Medication", "id": "thuoc",
                           "code": {"text": "Hapacol 500"},
                           "manufacturer": {"reference": f"Organization/{ids['nha_sx']}"}}]},
    }


def _served(client, path: str) -> dict[tuple[str, str], str]:
    return {(e["resource"]["resourceType"], e["resource"]["id"]): e["search"]["mode"]
            for e in page_entries(everything_pages(client, path))}


def test_references_of_every_element_and_of_contained_resources_are_followed(client, server):
    ids = load(client, {**SUPPORTING, "benh_nhan": {"resourceType": "Patient",
                                                    "name": [{"family": "Huỳnh"}]}})
    ids |= load(client, _record(ids, server.base))
    served = _served(client, f"/Patient/{ids['benh_nhan']}/$everything")
    included = {resource for resource, mode in served.items() if mode == "include"}
    assert included == {("Organization", ids["khoa"]), ("Location", ids["cap_cuu"]),
                        ("Location", ids["hoi_suc"]), ("Organization", ids["luu_tru"]),
                        ("Organization", ids["nha_sx"])}
    assert {resource for resource, mode in served.items() if mode == "match"} == {
        ("Patient", ids["benh_nhan"]), ("Encounter", ids["stay"]),
        ("Composition", ids["note"]), ("MedicationRequest", ids["order"])}


def test_an_encounters_unindexed_references_are_followed(client):
    ids = load(client, {key: SUPPORTING[key] for key in ("khoa", "cap_cuu", "hoi_suc")}
               | {"benh_nhan": {"resourceType": "Patient", "name": [{"family": "Lý"}]}})
    ids |= load(client, {"stay": _stay(ids)})
    served = _served(client, f"/Encounter/{ids['stay']}/$everything")
    assert {resource for resource, mode in served.items() if mode == "include"} >= {
        ("Organization", ids["khoa"]), ("Location", ids["cap_cuu"]),
        ("Location", ids["hoi_suc"])}
