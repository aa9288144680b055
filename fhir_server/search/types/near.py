"""`Location?near=[latitude]|[longitude]|[distance]|[units]`, the `special` parameter of R4
(http://hl7.org/fhir/R4/location.html#positional): entries are GeoJSON points of
`Location.position` (WGS84) under a 2dsphere index; a search value is a circle around the
given point, `distance` in `units` (km when omitted; DEFAULT_DISTANCE_KM without a distance,
the spec leaving "near" to the server).

Each entry is `{"p": <Point>}` with the index on `<field>.p`: a 2dsphere index reads an array
of bare GeoJSON objects as a legacy coordinate pair and refuses the write, but indexes
GeoJSON inside an array of subdocuments."""

import math
from decimal import Decimal

from fhir_server.search.fhirpath import Node
from fhir_server.search.types import Criterion
from fhir_server.search.types.number import numeric, parse_number

MODIFIERS = ("missing",)
DEFAULT_DISTANCE_KM = 10
EARTH_RADIUS_KM = 6378.1
# UCUM length units a distance may be given in, in km.
_POINT = "p"
_UNITS_KM = {"km": 1.0, "m": 0.001, "[mi_i]": 1.609344, "mi": 1.609344, "[nmi_i]": 1.852}


def _point(position: object) -> dict | None:
    if not isinstance(position, dict):
        return None
    latitude, longitude = numeric(position.get("latitude")), numeric(position.get("longitude"))
    if latitude is None or longitude is None:
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None  # not a WGS84 position: unsearchable, never a refused write
    return {"type": "Point", "coordinates": [longitude, latitude]}


def index(nodes: list[Node]) -> list[dict]:
    points = [_point(node.value) for node in nodes]
    return [{_POINT: point} for point in points if point is not None]


def sort_range(entries: list[dict]) -> None:
    return None


def index_key(field: str) -> list[tuple[str, int | str]]:
    return [(f"{field}.{_POINT}", "2dsphere")]


def present(field: str) -> dict:
    """Resources with a position (`:missing=false`): a 2dsphere index answers geometry
    queries only, so this is "within the whole sphere"."""
    return {f"{field}.{_POINT}": {"$geoWithin": {"$centerSphere": [[0, 0], math.pi]}}}


def _coordinate(text: str, name: str, limit: int) -> float:
    value = float(parse_number(text))
    if not -limit <= value <= limit:
        raise ValueError(f"{name} {text} is outside -{limit}..{limit}")
    return value


def compile_value(criterion: Criterion, value: str) -> dict:
    parts = value.split("|")
    if len(parts) not in (2, 3, 4) or not all(parts[:2]):
        raise ValueError(f"'{value}' is not [latitude]|[longitude]|[distance]|[units]")
    latitude = _coordinate(parts[0], "latitude", 90)
    longitude = _coordinate(parts[1], "longitude", 180)
    distance = Decimal(DEFAULT_DISTANCE_KM)
    if len(parts) > 2 and parts[2]:
        distance = parse_number(parts[2])
        if distance < 0:
            raise ValueError(f"distance {parts[2]} is negative")
    units = parts[3] if len(parts) > 3 and parts[3] else "km"
    if units not in _UNITS_KM:
        raise ValueError(f"unknown distance unit '{units}'; use one of {', '.join(_UNITS_KM)}")
    radians = float(distance) * _UNITS_KM[units] / EARTH_RADIUS_KM
    circle = {"$centerSphere": [[longitude, latitude], radians]}
    return {f"{criterion.field}.{_POINT}": {"$geoWithin": circle}}
