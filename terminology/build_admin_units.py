"""Build the terminology of Vietnam's administrative units from the `vietnamadminunits`
package (install the `build` extra), before and after the reform of 1 July 2025:

    python -m terminology.build_admin_units

writes `terminology/vn-administrative-units.json`, a collection Bundle of

- the CodeSystem of the units in force since 1 July 2025: the 34 provinces and their 3,321
  communes (xã, phường, đặc khu), each commune nested in its province; districts abolished;
- the CodeSystem of the units in force until 30 June 2025: 63 provinces, 696 districts,
  10,035 communes, nested province → district → commune (status retired);
- a ValueSet of each, and the ConceptMap from the old codes to the new ones.

Both CodeSystems are versions of the code system VN Core names
`http://fhir.ehealth.gov.vn/core/CodeSystem/vn-core-administrative-address` (the General
Statistics Office's list of administrative units; the guide ships it `content: not-present`)
and its ValueSet, which the VN Core Address extension binds province, district and commune
codings to. Shipping the content under that URL makes VN Core addresses check against the
current list; the two versions are needed because the reform gave new units the codes of
old ones (the new Phường Ba Đình has the code 00004 of the old Phường Trúc Bạch), so one
code means different units before and after. Codes: province 2 digits, district 3,
commune 5 (GSO codes). The current version comes last: it is the one the plain URL names.
"""

import json
import sqlite3
from collections import defaultdict
from importlib import metadata, util
from pathlib import Path

SYSTEM = "http://fhir.ehealth.gov.vn/core/CodeSystem/vn-core-administrative-address"
VALUE_SET = "http://fhir.ehealth.gov.vn/core/ValueSet/vn-core-administrative-address"
CONCEPT_MAP = "urn:fhir-exchange-server:ConceptMap/vn-administrative-units-2025"
CURRENT, LEGACY = "2025-07-01", "2025-06-30"
OUTPUT = Path(__file__).resolve().parent / "vn-administrative-units.json"
LIBRARY = "vietnamadminunits"
PUBLISHER = "fhir-exchange-server"


def _library_data() -> Path:
    """The data directory of the library, found without importing it (its parser needs
    shapely and geopy, which the data does not)."""
    spec = util.find_spec(LIBRARY)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{LIBRARY} is not installed: pip install -e '.[build]'")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _rows(database: Path, sql: str) -> list[sqlite3.Row]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        connection.row_factory = sqlite3.Row
        return connection.execute(sql).fetchall()


class Units:
    """The library's two lists, by code and by the name keys its mapping uses."""

    def __init__(self, data: Path) -> None:
        database = data / "dataset.db"
        self.new = _rows(database, "SELECT provinceKey, province, provinceCode, wardKey, ward,"
                                   " wardCode FROM admin_units ORDER BY provinceCode, wardCode")
        self.old = _rows(database, "SELECT provinceKey, province, provinceCode, districtKey,"
                                   " district, districtCode, wardKey, ward, wardCode"
                                   " FROM admin_units_legacy"
                                   " ORDER BY provinceCode, districtCode, wardCode")
        mapping = json.loads((data / "converter_2025.json").read_text(encoding="utf-8"))
        self.provinces: dict[str, list[str]] = mapping["DICT_PROVINCE"]
        self.whole: dict[str, dict[str, list[str]]] = mapping["DICT_PROVINCE_WARD_NO_DIVIDED"]
        self.divided: dict[str, dict[str, list[dict]]] = mapping["DICT_PROVINCE_WARD_DIVIDED"]
        self.new_province = {r["provinceKey"]: r["provinceCode"] for r in self.new}
        self.new_commune = {(r["provinceKey"], r["wardKey"]): r["wardCode"] for r in self.new}
        self.old_province = {r["provinceKey"]: r["provinceCode"] for r in self.old}
        # "province_district_commune" (commune empty for island districts without communes)
        self.old_unit = {f"{r['provinceKey']}_{r['districtKey']}_{r['wardKey'] or ''}":
                         r["wardCode"] or r["districtCode"] for r in self.old}


def _nested(rows: list[sqlite3.Row], levels: list[tuple[str, str]]) -> list[dict]:
    """Concepts nested along `levels` of (code column, display column), in code order."""
    roots: dict[str, dict] = {}
    for row in rows:
        siblings = roots
        for code_column, display_column in levels:
            code = row[code_column]
            if code is None:
                break
            concept = siblings.setdefault(code, {"code": code, "display": row[display_column],
                                                 "concept": {}})
            siblings = concept["concept"]
    return _listed(roots)


def _listed(concepts: dict[str, dict]) -> list[dict]:
    listed = []
    for concept in concepts.values():
        children = _listed(concept.pop("concept"))
        listed.append({**concept, "concept": children} if children else concept)
    return listed


def _count(concepts: list[dict]) -> int:
    return sum(1 + _count(c.get("concept", [])) for c in concepts)


def code_system(version: str, title: str, concepts: list[dict], status: str,
                description: str) -> dict:
    return {
        "resourceType": "CodeSystem", "id": f"vn-administrative-units-{version}",
        "language": "vi", "url": SYSTEM, "version": version,
        "name": f"VietnamAdministrativeUnits{version.replace('-', '')}", "title": title,
        "status": status, "date": version, "publisher": PUBLISHER,
        "description": description, "caseSensitive": True, "valueSet": f"{VALUE_SET}|{version}",
        "hierarchyMeaning": "part-of", "content": "complete", "count": _count(concepts),
        "concept": concepts,
    }


def value_set(version: str, title: str, status: str) -> dict:
    return {
        "resourceType": "ValueSet", "id": f"vn-administrative-units-{version}",
        "language": "vi", "url": VALUE_SET, "version": version,
        "name": f"VietnamAdministrativeUnits{version.replace('-', '')}", "title": title,
        "status": status, "date": version, "publisher": PUBLISHER,
        "description": f"Every unit of the CodeSystem {SYSTEM} version {version}.",
        "compose": {"include": [{"system": SYSTEM, "version": version}]},
    }


def _province_elements(units: Units) -> list[dict]:
    """An old province is equivalent to the new one it became unchanged, else the new
    province is wider (Resolution 202/2025/QH15 merged 52 of them into 23)."""
    elements = []
    for new_key, old_keys in units.provinces.items():
        equivalence = "equivalent" if len(old_keys) == 1 else "wider"
        for old_key in old_keys:
            elements.append({"code": units.old_province[old_key], "target": [
                {"code": units.new_province[new_key], "equivalence": equivalence}]})
    return elements


def _commune_elements(units: Units) -> tuple[list[dict], dict[str, str]]:
    """Old communes (and island districts, which had none) to new communes, and the new
    province of every old district."""
    sources: dict[str, set[str]] = defaultdict(set)  # new commune → old units it took from
    targets: dict[str, list[tuple[str, bool]]] = defaultdict(list)  # old → (new, main)
    for province, communes in units.whole.items():
        for new_key, old_keys in communes.items():
            new = units.new_commune[(province, new_key)]
            for old_key in old_keys:
                sources[new].add(units.old_unit[old_key])
                targets[units.old_unit[old_key]].append((new, True))
    divided = set()
    for province, old_communes in units.divided.items():
        for old_key, parts in old_communes.items():
            old = units.old_unit[old_key]
            divided.add(old)
            for part in parts:
                new = units.new_commune[(province, part["newWardKey"])]
                sources[new].add(old)
                targets[old].append((new, part["isDefaultNewWard"]))
    missing = set(units.old_unit.values()) - set(targets)
    if missing:
        raise SystemExit(f"{len(missing)} old units have no successor, e.g. {sorted(missing)[:5]}")
    elements = []
    for old, news in sorted(targets.items()):
        mapped = []
        for new, main in sorted(news, key=lambda n: (not n[1], n[0])):
            alone = sources[new] == {old}
            if old not in divided:
                mapped.append({"code": new, "equivalence": "equivalent" if alone else "wider"})
            elif alone:
                mapped.append({"code": new, "equivalence": "narrower",
                               "comment": "part of the old commune"
                               + (", its main successor" if main else "")})
            else:
                mapped.append({"code": new, "equivalence": "inexact",
                               "comment": "part of the old commune with other areas"
                               + (", its main successor" if main else "")})
        elements.append({"code": old, "target": mapped})
    province_of_district = {}
    for province, old_keys in units.provinces.items():
        for row in units.old:
            if row["provinceKey"] in old_keys:
                province_of_district[row["districtCode"]] = units.new_province[province]
    return elements, province_of_district


def concept_map(units: Units) -> dict:
    communes, province_of_district = _commune_elements(units)
    islands = {e["code"]: e for e in communes if len(e["code"]) == 3}
    districts = []
    for district, province in sorted(province_of_district.items()):
        # Districts were abolished: each lies in one new province (an island district
        # without communes also became a special zone, a commune-level unit).
        target = [{"code": province, "equivalence": "wider"}]
        districts.append({"code": district, "target": target + (
            islands[district]["target"] if district in islands else [])})
    elements = _province_elements(units) + districts + [
        e for e in communes if e["code"] not in islands]
    return {
        "resourceType": "ConceptMap", "id": "vn-administrative-units-2025", "language": "vi",
        "url": CONCEPT_MAP, "version": CURRENT,
        "name": "VietnamAdministrativeUnits2025", "status": "active", "date": CURRENT,
        "title": "Đơn vị hành chính trước và sau ngày 01/07/2025",
        "publisher": PUBLISHER,
        "description": "The administrative units in force until 30 June 2025 mapped to those "
                       "since 1 July 2025: provinces to the province they became (equivalent) "
                       "or were merged into (wider); districts, abolished, to their new "
                       "province (wider); communes to the communes that took them whole "
                       "(equivalent, or wider when merged with others) or in parts (narrower, "
                       "or inexact when the part joined other areas).",
        "sourceCanonical": f"{VALUE_SET}|{LEGACY}", "targetCanonical": f"{VALUE_SET}|{CURRENT}",
        "group": [{"source": SYSTEM, "sourceVersion": LEGACY, "target": SYSTEM,
                   "targetVersion": CURRENT, "element": elements}],
    }


def build(data: Path) -> dict:
    units = Units(data)
    source = f"{LIBRARY} {metadata.version(LIBRARY)} (MIT; General Statistics Office lists)"
    current = _nested(units.new, [("provinceCode", "province"), ("wardCode", "ward")])
    legacy = _nested(units.old, [("provinceCode", "province"), ("districtCode", "district"),
                                 ("wardCode", "ward")])
    if len(current) != 34 or len(legacy) != 63:
        raise SystemExit(f"expected 34 and 63 provinces, found {len(current)} and {len(legacy)}")
    resources = [
        code_system(LEGACY, "Đơn vị hành chính Việt Nam đến 30/06/2025 (63 tỉnh)", legacy,
                    "retired", "Provinces, districts and communes in force until 30 June "
                    f"2025, nested. Generated from {source}."),
        value_set(LEGACY, "Đơn vị hành chính Việt Nam đến 30/06/2025", "retired"),
        code_system(CURRENT, "Đơn vị hành chính Việt Nam từ 01/07/2025 (34 tỉnh)", current,
                    "active", "Provinces and communes in force since 1 July 2025 (districts "
                    f"abolished), communes nested in their province. Generated from {source}."),
        value_set(CURRENT, "Đơn vị hành chính Việt Nam từ 01/07/2025", "active"),
        concept_map(units),
    ]
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": resource} for resource in resources]}


def main() -> None:
    bundle = build(_library_data())
    OUTPUT.write_text(json.dumps(bundle, ensure_ascii=False, separators=(",", ":")) + "\n",
                      encoding="utf-8")
    print(f"wrote {OUTPUT} ({OUTPUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
