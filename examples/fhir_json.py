"""Small FHIR JSON pieces of the synthetic records: identifiers, addresses, the synthetic-data
security label, conditional references and transaction Bundles."""

from examples.vietnam import IDENTIFIER_TYPE_SYSTEM, IDENTIFIER_TYPES, Province


def synthetic_meta() -> dict:
    test_data = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                 "code": "HTEST", "display": "test health data"}
    return {"security": [test_data]}


def identifier_element(system: str, value: str, use: str = "official") -> dict:
    code, display, text = IDENTIFIER_TYPES[system]
    kind = {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": code, "display": display}],
            "text": text}
    return {"use": use, "type": kind, "system": system, "value": value}


def address_element(province: Province, line: str, district: str, use: str) -> dict:
    return {"use": use, "type": "physical", "text": f"{line}, {district}, {province.name}",
            "line": [line], "district": district, "city": province.name,
            "state": province.name, "country": "VN"}


def identifier_criteria(resource: dict) -> str:
    """`identifier=system|value` of the resource's first identifier."""
    identifier = resource["identifier"][0]
    return f"identifier={identifier['system']}|{identifier['value']}"


def conditional_reference(resource: dict) -> str:
    return f"{resource['resourceType']}?{identifier_criteria(resource)}"


def transaction_bundle(entries: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def patient_group(name: str, patient_refs: list[str]) -> dict:
    group = {"resourceType": "Group", "meta": synthetic_meta(), "type": "person",
             "actual": True, "name": name, "quantity": len(patient_refs)}
    if patient_refs:
        group["member"] = [{"entity": {"reference": ref}} for ref in patient_refs]
    return group


def has_diagnosis(entries: list[dict], codes: set[str]) -> bool:
    return any(
        coding["code"] in codes
        for entry in entries
        if entry["resource"]["resourceType"] == "Encounter"
        for reason in entry["resource"]["reasonCode"]
        for coding in reason["coding"]
    )
