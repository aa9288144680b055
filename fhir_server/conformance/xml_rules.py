"""What FHIR XML (http://hl7.org/fhir/R4/xml.html) reads from the StructureDefinitions, shared
by the parser and the writer: which properties are XML attributes (ElementDefinition
`representation` xmlAttr: Element.id, Extension.url, a primitive's value), which primitive is
XHTML (`representation` xhtml: Narrative.div), the order of elements, primitive values as
attribute text, and an expat parser that refuses DTDs and entities."""

import math
import re
from decimal import Decimal
from functools import cache, lru_cache
from xml.parsers import expat
from xml.parsers.expat import errors as expat_errors

from fhir_server.conformance import json_format
from fhir_server.conformance.definitions import registry
from fhir_server.conformance.messages import Phrase, PhrasedError, phrase
from fhir_server.conformance.primitives import primitive_type
from fhir_server.conformance.reading_messages import EXPAT_PROBLEMS
from fhir_server.conformance.structure import Node
from fhir_server.errors import InvalidResource

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
# Attributes of this namespace (xsi:schemaLocation) carry no FHIR content.
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
# expat joins an element's namespace and local name with this (no URI holds a space).
NS_SEPARATOR = " "
# A start or end tag from its `<` to its `>` (attribute values may hold `>`).
TAG = re.compile(rb"""<(?:[^>"']|"[^"]*"|'[^']*')*>""")
# Characters XML 1.0 cannot carry (https://www.w3.org/TR/xml/#charsets).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTRIBUTE_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\t": "&#9;", "\n": "&#10;",
     "\r": "&#13;"}
)
_XML_SPACE = " \t\r\n"
# expat's problems (by its English words) → their message ids.
_EXPAT_PROBLEM_IDS = {english: message_id for message_id, (english, _) in EXPAT_PROBLEMS.items()}


class XmlRefused(PhrasedError):
    """XML this server does not read, whether well-formed or not: a DTD, an entity."""


def _refuse_dtd(*_: object) -> None:
    raise XmlRefused("xml.dtd")


def _refuse_external(*_: object) -> int:
    raise XmlRefused("xml.external-entity")


def refuse_other_encoding(_version: str, encoding: str | None, _standalone: int) -> None:
    """An XML declaration's handler: FHIR XML is UTF-8 (http.html#mime-type). expat reads a
    `safe_parser`'s document as UTF-8 whatever it declares, so a body declaring Latin-1
    had its text silently read otherwise than meant (`MÃ¼ller` became `Müller`)."""
    if encoding is not None and encoding.lower() not in ("utf-8", "utf8"):
        raise XmlRefused("xml.declared-encoding", encoding=encoding)


def xml_syntax(error: expat.ExpatError) -> Phrase:
    """Why expat found the XML not well-formed, and where (`mismatched tag: line 3, column
    4`)."""
    english = expat_errors.messages[error.code]
    problem = (phrase(_EXPAT_PROBLEM_IDS[english]) if english in _EXPAT_PROBLEM_IDS
               else phrase("expat.other", problem=english))
    return phrase("xml.syntax", problem=problem, line=error.lineno, column=error.offset)


def safe_parser() -> expat.XMLParserType:
    """A namespace-aware, UTF-8 expat parser that stops at any DTD, entity declaration or
    external entity: with no DTD no entity can be defined, so neither entity expansion
    (billion laughs) nor external resources (XXE) are possible."""
    parser = expat.ParserCreate(encoding="utf-8", namespace_separator=NS_SEPARATOR)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.ExternalEntityRefHandler = _refuse_external
    parser.buffer_text = True
    return parser


def nested_too_deep(max_depth: int) -> Phrase:
    """Why an XML body deeper than the JSON depth limit is refused: the limit counts levels
    of its JSON form, where a repeating element is an array and its item."""
    return phrase("body.xml-too-deep", max=max_depth)


class _RootFound(Exception):
    pass


def in_fhir_namespace(raw: bytes) -> bool:
    """Whether an XML document's root element is in the FHIR namespace (read no further)."""
    parser = safe_parser()

    def start(tag: str, _: dict) -> None:
        raise _RootFound(tag.partition(NS_SEPARATOR)[0] == FHIR_NS)

    parser.StartElementHandler = start
    try:
        parser.Parse(raw, True)
    except _RootFound as found:
        return bool(found.args[0])
    except (expat.ExpatError, XmlRefused):  # not well-formed, or a DTD: no FHIR either way
        return False
    return False


def is_blank(text: str) -> bool:
    """XML whitespace only (not every Unicode space)."""
    return not text.strip(_XML_SPACE)


@cache
def _representations(type_name: str) -> dict[str, frozenset[str]]:
    """ElementDefinition.representation by element path, from a type's snapshot."""
    definition = registry().structure_definition(type_name)
    elements = definition.get("snapshot", {}).get("element", ()) if definition else ()
    return {
        element["path"]: frozenset(element["representation"])
        for element in elements
        if "representation" in element
    }


def _representation(path: str) -> frozenset[str]:
    return _representations(path.split(".", 1)[0]).get(path, frozenset())


@cache
def xml_attributes(node: Node) -> tuple[str, ...]:
    """The properties of a node written as XML attributes (representation xmlAttr), in the
    order of the definition."""
    return tuple(
        name
        for name, prop in node.properties.items()
        if "xmlAttr" in _representation(prop.element.path)
    )


@cache
def is_xhtml(type_code: str) -> bool:
    """Whether a primitive type's value is an XHTML element (representation xhtml)."""
    return "xhtml" in _representation(f"{type_code}.value")


@cache
@lru_cache(maxsize=4096)  # by identity: the nodes of the types' and profiles' trees
def element_order(node: Node) -> dict[str, int]:
    """The position of each property in the definition: XML elements keep this order."""
    return {name: position for position, name in enumerate(node.properties)}


def json_value(text: str, type_code: str, location: str) -> object:
    """A `value` attribute as its JSON value (http://hl7.org/fhir/R4/json.html#primitive):
    decimals as the server's JSON reader reads the same literal ("1.50" keeps its
    precision, "100" is 100), so a resource is the same whichever format it came in.
    PhrasedError says why a value is none of its type."""
    rules = primitive_type(type_code)
    if rules.json_kind == "string":
        return text
    if rules.json_kind == "boolean":
        if text not in ("true", "false"):
            raise PhrasedError("xml.not-boolean", location=location, text=repr(text))
        return text == "true"
    if rules.matches(text):
        try:
            return (json_format.parse_integer(text) if rules.json_kind == "integer"
                    else json_format.loads(text))
        except ValueError as beyond:  # a number no Decimal128 (or Python) holds exactly
            raise PhrasedError("xml.bad-number", location=location,
                               problem=json_format.json_problem(beyond)) from None
    raise PhrasedError("xml.not-of-type", location=location, text=repr(text[:60]),
                       kind=_article(type_code), vi={"kind": type_code})


def xml_value(value: object, type_code: str, location: str) -> str:
    """A JSON primitive as the text of its `value` attribute, escaped."""
    kind = primitive_type(type_code).json_kind
    if kind == "boolean" and type(value) is bool:
        return "true" if value else "false"
    # Any int but a bool: MongoDB gives a whole number beyond 32 bits back as bson's Int64.
    if isinstance(value, int) and not isinstance(value, bool) and kind in ("integer", "number"):
        return str(int(value))
    if isinstance(value, float | Decimal) and kind == "number" and math.isfinite(value):
        return json_format.dumps(value).decode()  # as the JSON response writes it
    if kind == "string" and isinstance(value, str):
        return _attribute_text(value, location)
    raise InvalidResource(f"{location}: {value!r:.60} is not {_article(type_code)}",
                          expression=location)


def _attribute_text(text: str, location: str) -> str:
    """A string escaped for a double-quoted attribute; white space kept as character
    references, since attribute normalisation would turn it into spaces."""
    if _NOT_XML.search(text):
        raise InvalidResource(
            f"{location} holds a character XML cannot carry (a control character, U+FFFE or "
            "U+FFFF)",
            expression=location,
        )
    return text.translate(_ATTRIBUTE_ESCAPES)


def _article(name: str) -> str:
    return f"{'an' if name[0] in 'aeiouAEIOU' else 'a'} {name}"
