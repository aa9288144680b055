"""The narrative `div` (http://hl7.org/fhir/R4/narrative.html#xhtml): a well-formed XHTML
`<div>` declaring the XHTML namespace, holding only the basic formatting elements R4 allows
(txt-1: no scripts, forms, frames, objects, head/body, event attributes) and some content
(txt-2). The same reading serves FHIR XML, which needs the first two to carry it."""

from dataclasses import dataclass, field
from xml.parsers import expat

from fhir_server.conformance.messages import Phrase, phrase
from fhir_server.conformance.xml_rules import (
    NS_SEPARATOR,
    XHTML_NS,
    XmlRefused,
    is_blank,
    safe_parser,
    xml_syntax,
)

_DIV = f"{XHTML_NS}{NS_SEPARATOR}div"
# The elements txt-1 allows (those the FHIR validator's htmlChecks() accepts).
_ALLOWED_ELEMENTS = frozenset({
    "p", "br", "div", "h1", "h2", "h3", "h4", "h5", "h6", "a", "span", "b", "em", "i",
    "strong", "small", "big", "tt", "dfn", "q", "var", "abbr", "acronym", "cite",
    "blockquote", "hr", "address", "bdo", "kbd", "sub", "sup", "ul", "ol", "li", "dl", "dt",
    "dd", "pre", "table", "caption", "colgroup", "col", "thead", "tr", "tfoot", "tbody", "th",
    "td", "code", "samp", "img", "map", "area",
})
# The attributes it allows: on any element, and on some (`a.href`), as htmlChecks() lists
# them (HTML 4's basic formatting, links, images and tables); none of another namespace but
# `xml:lang`, as R4's fhir-xhtml.xsd has it.
_ANY_ELEMENT_ATTRIBUTES = frozenset({
    "title", "style", "class", "id", "ID", "lang", "dir", "accesskey", "tabindex", "span",
    "width", "align", "valign", "char", "charoff", "abbr", "axis", "headers", "scope",
    "rowspan", "colspan",
})
_ELEMENT_ATTRIBUTES = frozenset({
    "a.href", "a.name", "a.title", "a.type", "a.rel", "a.rev", "a.charset", "a.hreflang",
    "a.shape", "a.coords", "a.target", "img.src", "img.alt", "img.border", "img.longdesc",
    "img.height", "img.width", "img.usemap", "img.ismap", "map.name", "area.shape",
    "area.coords", "area.href", "area.nohref", "area.alt", "blockquote.cite", "q.cite",
    "table.summary", "table.width", "table.border", "table.frame", "table.rules",
    "table.cellspacing", "table.cellpadding", "pre.space", "td.nowrap", "th.nowrap",
    "ol.start", "ol.type", "ul.type", "li.value", "li.type", "col.span", "colgroup.span",
})
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_SCRIPT_SCHEMES = ("javascript:", "vbscript:")
# What a browser's URL parser (WHATWG URL standard) drops before it reads the scheme: C0
# controls and spaces around the URL, ASCII tabs and newlines anywhere (`java&#9;script:`).
_URL_TRIMMED = "".join(map(chr, range(0x21)))
_URL_DROPPED = str.maketrans("", "", "\t\n\r")


def _allowed_attribute(element: str, namespace: str, name: str) -> bool:
    if namespace:
        return namespace == _XML_NS and name == "lang"
    return name in _ANY_ELEMENT_ATTRIBUTES or f"{element}.{name}" in _ELEMENT_ATTRIBUTES


def _runs_script(value: str) -> bool:
    """Whether an attribute's value is a URL a browser would run as script."""
    url = value.strip(_URL_TRIMMED).translate(_URL_DROPPED).lower()
    return url.startswith(_SCRIPT_SCHEMES)


@dataclass
class XhtmlReading:
    """What one parse of a div found."""

    error: Phrase | None = None  # not well-formed
    root: str | None = None  # namespace and name of the first element
    outside: Phrase | None = None  # an XML declaration, comment or instruction beside the div
    depth: int = 0  # of the element being read
    forbidden: list[Phrase] = field(default_factory=list)  # what txt-1 refuses
    has_content: bool = False  # text or an image (txt-2)
    # The contained resources its images and links show (`<img src="#photo">`), which
    # references them as a Reference would (dom-3, as the HL7 validator counts them).
    local_references: set[str] = field(default_factory=set)


def read_xhtml(text: str) -> XhtmlReading:
    reading = XhtmlReading()
    parser = safe_parser()

    def start(tag: str, attributes: dict[str, str]) -> None:
        namespace, _, name = tag.rpartition(NS_SEPARATOR)
        reading.root = reading.root or tag
        reading.depth += 1
        if namespace != XHTML_NS or name not in _ALLOWED_ELEMENTS:
            reading.forbidden.append(phrase("xhtml.element", name=name))
        reading.has_content |= name == "img"
        for attribute, value in attributes.items():
            space, _, local = attribute.rpartition(NS_SEPARATOR)
            if local.lower().startswith("on") or not _allowed_attribute(name, space, local):
                reading.forbidden.append(
                    phrase("xhtml.attribute-of-namespace", name=local, namespace=space,
                           element=name) if space
                    else phrase("xhtml.attribute", name=local, element=name))
            elif _runs_script(value):
                reading.forbidden.append(phrase("xhtml.script-url", name=local, element=name))
            elif local in ("src", "href") and value.startswith("#") and len(value) > 1:
                reading.local_references.add(value)

    def characters(data: str) -> None:
        reading.has_content |= not is_blank(data)

    def end(_: str) -> None:
        reading.depth -= 1

    def beside(what: Phrase) -> None:
        # The div is an element of the resource, not a document: an XML declaration, or a
        # comment or instruction outside it, would end up inside the XML of the resource.
        if reading.depth == 0:
            reading.outside = reading.outside or what

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.XmlDeclHandler = lambda *_: beside(phrase("xhtml.xml-declaration"))
    parser.CommentHandler = lambda _: beside(phrase("xhtml.comment"))
    parser.ProcessingInstructionHandler = lambda *_: beside(phrase("xhtml.instruction"))
    try:
        parser.Parse(text.encode("utf-8", "surrogatepass"), True)
    except expat.ExpatError as error:
        reading.error = xml_syntax(error)
    except XmlRefused as refused:
        reading.error = refused.phrase
    return reading


def _not_one_div(reading: XhtmlReading) -> Phrase | None:
    """What a div must be, when it is something else (another element, or a declaration,
    comment or instruction beside it)."""
    if reading.root == _DIV and not reading.outside:
        return None
    if reading.outside:
        return phrase("xhtml.div-alone", namespace=XHTML_NS, outside=reading.outside)
    return phrase("xhtml.div", namespace=XHTML_NS)


def xhtml_problem(text: str, location: str) -> Phrase | None:
    """Why the div at `location` is not a well-formed `<div>` of the XHTML namespace (what
    FHIR XML needs to carry it), or None."""
    reading = read_xhtml(text)
    if reading.error is not None:
        return phrase("xml.div-not-well-formed", location=location, problem=reading.error)
    if (shape := _not_one_div(reading)) is not None:
        return phrase("xml.div-shape", location=location, shape=shape)
    return None


def narrative_problem(reading: XhtmlReading, said_empty: bool = False
                      ) -> tuple[str, str, Phrase] | None:
    """(severity, issue code, why) the div read is not an acceptable narrative, or None. An
    empty div (txt-2) is only a warning (four official R4 examples have one), and none when
    the narrative's status says it is `empty`."""
    if reading.error is not None:
        return "error", "value", phrase("xhtml.not-well-formed", problem=reading.error)
    if (shape := _not_one_div(reading)) is not None:
        return "error", "value", phrase("xhtml.not-one-div", shape=shape)
    if reading.forbidden:
        return "error", "invariant", phrase("xhtml.forbidden", what=reading.forbidden[0])
    if not reading.has_content and not said_empty:
        return "warning", "invariant", phrase("xhtml.no-content")
    return None
