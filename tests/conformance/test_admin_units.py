"""Vietnam's administrative units before and after the reform of 1 July 2025, as shipped in
`terminology/vn-administrative-units.json` (built by `terminology/build_admin_units.py`):
two versions of VN Core's administrative-address CodeSystem and ValueSet, and the
ConceptMap from the old codes to the new."""

import pytest

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.terminology import expand

SYSTEM = "http://fhir.ehealth.gov.vn/core/CodeSystem/vn-core-administrative-address"
VALUE_SET = "http://fhir.ehealth.gov.vn/core/ValueSet/vn-core-administrative-address"
CONCEPT_MAP = "urn:fhir-exchange-server:ConceptMap/vn-administrative-units-2025"
CURRENT, LEGACY = "2025-07-01", "2025-06-30"


def _code_system(version: str) -> dict:
    found = [cs for cs in registry().all("CodeSystem")
             if cs["url"] == SYSTEM and cs.get("version") == version]
    assert len(found) == 1
    return found[0]


def _concepts(concepts: list[dict], parent: str | None = None) -> dict[str, tuple[str, str]]:
    """code → (display, parent code) of every concept, nested ones included."""
    found = {}
    for concept in concepts:
        found[concept["code"]] = (concept["display"], parent)
        found |= _concepts(concept.get("concept", []), concept["code"])
    return found


@pytest.fixture(scope="module")
def current() -> dict[str, tuple[str, str]]:
    return _concepts(_code_system(CURRENT)["concept"])


@pytest.fixture(scope="module")
def legacy() -> dict[str, tuple[str, str]]:
    return _concepts(_code_system(LEGACY)["concept"])


@pytest.fixture(scope="module")
def mapping() -> dict[str, list[tuple[str, str]]]:
    concept_map = registry().resolve(CONCEPT_MAP)
    assert concept_map is not None and concept_map["resourceType"] == "ConceptMap"
    (group,) = concept_map["group"]
    assert (group["source"], group["sourceVersion"], group["target"], group["targetVersion"]) == (
        SYSTEM, LEGACY, SYSTEM, CURRENT)
    return {e["code"]: [(t["code"], t["equivalence"]) for t in e["target"]]
            for e in group["element"]}


def test_34_provinces_and_their_communes(current):
    provinces = {code for code, (_, parent) in current.items() if parent is None}
    assert len(provinces) == 34 and len(current) - 34 == 3321
    assert all(len(code) == 5 and parent in provinces
               for code, (_, parent) in current.items() if parent is not None)
    assert current["79"] == ("Thành phố Hồ Chí Minh", None)
    assert current["08"] == ("Tỉnh Tuyên Quang", None)
    # Communes as the General Statistics Office numbered them (Công văn 1027/CTK-CSCL).
    assert current["00004"] == ("Phường Ba Đình", "01")
    assert current["00082"] == ("Phường Cửa Nam", "01")
    assert current["26740"] == ("Phường Sài Gòn", "79")
    assert current["26732"] == ("Đặc khu Côn Đảo", "79")  # once in Bà Rịa - Vũng Tàu
    assert current["00715"] == ("Xã Lũng Cú", "08")  # once in Hà Giang
    assert "002" not in current  # districts are gone


def test_63_provinces_with_districts_and_communes(legacy):
    levels = {length: [c for c in legacy if len(c) == length] for length in (2, 3, 5)}
    assert (len(levels[2]), len(levels[3]), len(levels[5])) == (63, 696, 10035)
    assert legacy["02"] == ("Tỉnh Hà Giang", None)
    assert legacy["001"] == ("Quận Ba Đình", "01")
    assert legacy["00004"] == ("Phường Trúc Bạch", "001")
    assert legacy["755"] == ("Huyện Côn Đảo", "77")


def test_the_code_systems_are_complete_versions_of_vn_cores(current):
    for version, status, count in ((CURRENT, "active", 3355), (LEGACY, "retired", 10794)):
        code_system = _code_system(version)
        assert (code_system["status"], code_system["content"], code_system["count"]) == (
            status, "complete", count)
        assert code_system["valueSet"] == f"{VALUE_SET}|{version}"
    # The plain URLs name the list in force.
    assert registry().resolve(SYSTEM)["version"] == CURRENT
    assert registry().resolve(VALUE_SET)["version"] == CURRENT


def test_value_sets_expand_to_each_list(current, legacy):
    assert expand(VALUE_SET) == {SYSTEM: frozenset(current)}
    assert expand(f"{VALUE_SET}|{CURRENT}") == {SYSTEM: frozenset(current)}
    assert expand(f"{VALUE_SET}|{LEGACY}") == {SYSTEM: frozenset(legacy)}


@pytest.mark.parametrize(("old", "targets"), [
    ("02", [("08", "wider")]),  # Hà Giang merged into Tuyên Quang
    ("08", [("08", "wider")]),
    ("77", [("79", "wider")]),  # Bà Rịa - Vũng Tàu into Hồ Chí Minh City
    ("74", [("79", "wider")]),  # Bình Dương too
    ("01", [("01", "equivalent")]),  # Hà Nội unchanged
    ("001", [("01", "wider")]),  # a district, abolished, lies in its province
    ("755", [("79", "wider"), ("26732", "equivalent")]),  # Côn Đảo: now a special zone
    ("00004", [("00004", "wider")]),  # Trúc Bạch became part of the new Ba Đình
])
def test_old_units_map_to_new_ones(mapping, old, targets):
    assert mapping[old] == targets


def test_every_old_unit_maps_to_current_units(mapping, current, legacy):
    assert set(mapping) == set(legacy)
    assert all(code in current for targets in mapping.values() for code, _ in targets)
    equivalences = {e for targets in mapping.values() for _, e in targets}
    assert equivalences == {"equivalent", "wider", "narrower", "inexact"}


def test_a_divided_commune_maps_to_each_part(mapping, legacy):
    divided = {code: targets for code, targets in mapping.items()
               if len(code) == 5 and len(targets) > 1}
    assert divided
    for targets in divided.values():
        assert {e for _, e in targets} <= {"narrower", "inexact"}
