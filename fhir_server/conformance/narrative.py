"""The narrative `div` (http://hl7.org/fhir/R4/narrative.html#xhtml): a well-formed XHTML
`<div>` declaring the XHTML namespace, holding only the basic formatting elements R4 allows
(txt-1: no scripts, forms, frames, objects, head/body, event attributes) and some content
(txt-2). The same reading serves FHIR XML, which needs the first two to carry it. Viewers
show a div as HTML (innerHTML), so what a browser's HTML parser reads otherwise than XML is
checked as HTML reads it (attribute values) or refused (CDATA sections, instructions, comments
HTML ends early)."""

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.parsers import expat

from fhir_server.conformance.messages import Phrase, phrase
from fhir_server.conformance.xml_rules import (
    NS_SEPARATOR,
    TAG,
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
# `xml:lang`, as R4's fhir-xhtml.xsd has it, and `xml:space`, which XHTML fixes on `<pre>` and
# htmlChecks only hints at (an XML serializer writes it on `<pre>`).
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
# An attribute of a start tag as written: its name, then its value in double or single quotes.
_WRITTEN_ATTRIBUTE = re.compile(
    rb"""[ \t\r\n]+([^ \t\r\n=]+)[ \t\r\n]*=[ \t\r\n]*(?:"([^"]*)"|'([^']*)')""")
# The name of the element a start tag opens, as written (`h:p` with its prefix).
_WRITTEN_NAME = re.compile(rb"<([^ \t\r\n/>]+)")
# How a comment starts when an HTML parser ends it right there (`<!-->`, `<!--->`: WHATWG HTML
# §13.2.5.43-44, abrupt-closing-of-empty-comment); XML reads on to the next `-->`.
_COMMENT_HTML_ENDS_AT_ONCE = (">", "->")


def _allowed_attribute(element: str, namespace: str, name: str) -> bool:
    if namespace:
        return namespace == _XML_NS and name in ("lang", "space")
    return name in _ANY_ELEMENT_ATTRIBUTES or f"{element}.{name}" in _ELEMENT_ATTRIBUTES


def _forbidden_attributes(element: str, attributes: dict[str, str]) -> Iterator[Phrase]:
    """The attributes of an element txt-1 does not allow: of events, or not listed."""
    for attribute in attributes:
        space, _, local = attribute.rpartition(NS_SEPARATOR)
        if local.lower().startswith("on") or not _allowed_attribute(element, space, local):
            yield (phrase("xhtml.attribute-of-namespace", name=local, namespace=space,
                          element=element) if space
                   else phrase("xhtml.attribute", name=local, element=element))


def _runs_script(value: str) -> bool:
    """Whether an attribute's value is a URL a browser would run as script."""
    url = value.strip(_URL_TRIMMED).translate(_URL_DROPPED).lower()
    return url.startswith(_SCRIPT_SCHEMES)


def _attributes_as_html_reads_them(start_tag: bytes) -> Iterator[tuple[str, str]]:
    """(name, value) of each attribute of a start tag as a browser reads the div (HTML, as
    innerHTML shows a narrative): references resolved, literal tabs and newlines kept, where
    XML makes them spaces (https://www.w3.org/TR/xml/#AVNormalize) and so hides
    `java<TAB>script:` from a check of the value XML reads."""
    for written in _WRITTEN_ATTRIBUTE.finditer(start_tag):
        name, double_quoted, single_quoted = written.groups()
        value = double_quoted if double_quoted is not None else single_quoted
        yield name.decode(), html.unescape(value.decode())


def _script_urls(element: str, start_tag: bytes) -> Iterator[Phrase]:
    """The attributes of a start tag whose value a browser runs as script."""
    for name, value in _attributes_as_html_reads_them(start_tag):
        if _runs_script(value):
            yield phrase("xhtml.script-url", name=name, element=element)


def _local_references(attributes: dict[str, str]) -> Iterator[str]:
    """The `#id` its image or link shows: a contained resource it references."""
    for attribute, value in attributes.items():
        if attribute in ("src", "href") and value.startswith("#") and len(value) > 1:
            yield value


@dataclass
class XhtmlReading:
    """What one parse of a div found."""

    error: Phrase | None = None  # not well-formed
    root: str | None = None  # namespace and name of the first element
    outside: Phrase | None = None  # an XML declaration, comment or instruction beside the div
    # The first element written with a namespace prefix (`<h:div xmlns:h="...xhtml">`): XML
    # reads it in the XHTML namespace, a browser's HTML parser as an unknown `h:div`.
    prefixed: str | None = None
    depth: int = 0  # of the element being read
    forbidden: list[Phrase] = field(default_factory=list)  # what txt-1 refuses
    has_content: bool = False  # text or an image (txt-2)
    # The contained resources its images and links show (`<img src="#photo">`), which
    # references them as a Reference would (dom-3, as the HL7 validator counts them).
    local_references: set[str] = field(default_factory=set)


def read_xhtml(text: str) -> XhtmlReading:
    """What a div holds, as XML reads it and, where a browser's HTML parser reads it
    otherwise (attribute values, CDATA sections, instructions, some comments), as HTML does."""
    reading = XhtmlReading()
    parser = safe_parser()
    raw = text.encode("utf-8", "surrogatepass")

    def start(tag: str, attributes: dict[str, str]) -> None:
        namespace, _, name = tag.rpartition(NS_SEPARATOR)
        reading.root = reading.root or tag
        reading.depth += 1
        if namespace != XHTML_NS or name not in _ALLOWED_ELEMENTS:
            reading.forbidden.append(phrase("xhtml.element", name=name))
        reading.has_content |= name == "img"
        reading.forbidden += _forbidden_attributes(name, attributes)
        start_tag = TAG.match(raw, parser.CurrentByteIndex)
        assert start_tag is not None, "expat reported a start tag here"
        reading.forbidden += _script_urls(name, start_tag.group())
        written = _WRITTEN_NAME.match(start_tag.group())
        assert written is not None, "a start tag begins with its name"
        if b":" in written[1]:
            reading.prefixed = reading.prefixed or written[1].decode()
        reading.local_references.update(_local_references(attributes))

    def characters(data: str) -> None:
        reading.has_content |= not is_blank(data)

    def end(_: str) -> None:
        reading.depth -= 1

    def markup(beside_div: Phrase, inside_div: Phrase | None) -> None:
        # The div is an element of the resource, not a document: an XML declaration, or a
        # comment or instruction outside it, would end up inside the XML of the resource.
        # Inside it, what HTML reads otherwise than XML hides markup from this check.
        if reading.depth == 0:
            reading.outside = reading.outside or beside_div
        elif inside_div is not None:
            reading.forbidden.append(inside_div)

    def comment(comment_text: str) -> None:
        ended_at_once = comment_text.startswith(_COMMENT_HTML_ENDS_AT_ONCE)
        markup(phrase("xhtml.comment"),
               phrase("xhtml.comment-ended-at-once") if ended_at_once else None)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.XmlDeclHandler = lambda *_: markup(phrase("xhtml.xml-declaration"), None)
    parser.CommentHandler = comment
    # Outside SVG and MathML, HTML reads a CDATA section or an instruction as a comment that
    # ends at the first `>` (WHATWG HTML §13.2.5.42, §13.2.5.6): what follows it is markup.
    parser.StartCdataSectionHandler = lambda: markup(
        phrase("xhtml.cdata"), phrase("xhtml.html-comment", what=phrase("xhtml.cdata")))
    parser.ProcessingInstructionHandler = lambda *_: markup(
        phrase("xhtml.instruction"),
        phrase("xhtml.html-comment", what=phrase("xhtml.instruction")))
    try:
        parser.Parse(raw, True)
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
    if reading.prefixed:  # XHTML all the same: FHIR XML carries it, as read and written
        return "error", "value", phrase("xhtml.prefixed", name=reading.prefixed,
                                        namespace=XHTML_NS)
    if reading.forbidden:
        return "error", "invariant", phrase("xhtml.forbidden", what=reading.forbidden[0])
    if not reading.has_content and not said_empty:
        return "warning", "invariant", phrase("xhtml.no-content")
    return None
