"""FHIR XML to FHIR JSON (http://hl7.org/fhir/R4/xml.html, http://hl7.org/fhir/R4/json.html),
driven by the StructureDefinitions of the registry.

One pass of expat events with an explicit stack (no recursion, whatever the nesting): each
open element is a frame that knows its definition, so arrays come from `repeats`, JSON types
from the primitive types, and a resource-typed element holds the resource element. The
narrative `div` is kept as the exact XHTML text of the source."""

import codecs
from collections.abc import Callable
from dataclasses import dataclass, field
from xml.parsers import expat

from fhir_server.conformance.definitions import registry
from fhir_server.conformance.issue_lists import capped
from fhir_server.conformance.messages import (
    Phrase,
    PhrasedError,
    issue,
    phrase,
    phrased_refusal,
    refusal,
)
from fhir_server.conformance.narrative import xhtml_problem
from fhir_server.conformance.structure import BACKBONE, PRIMITIVE, RESOURCE, Node, Property
from fhir_server.conformance.structure import definition_tree as _tree
from fhir_server.conformance.xml_rules import (
    FHIR_NS,
    NS_SEPARATOR,
    TAG,
    XHTML_NS,
    XSI_NS,
    XmlRefused,
    element_order,
    is_blank,
    is_xhtml,
    json_value,
    nested_too_deep,
    refuse_other_encoding,
    safe_parser,
    xml_attributes,
    xml_syntax,
)
from fhir_server.errors import BadRequest, FhirError, InvalidResource, Issue

_XML_NS = "http://www.w3.org/XML/1998/namespace"


# Elements out of order reported of one resource: the rest are like them.
_MOST_DISORDER = 20
# Bad values gathered before the body is refused (as a validation stops at 1,000 errors).
MAX_BAD_VALUES = 1000


@dataclass(slots=True)
class _Object:
    """An element being read into a JSON object: a resource, a data type, a backbone
    element, or the `_x` object of a primitive (then `value` is the primitive's own)."""

    node: Node
    location: str
    name: str  # the element's name, or the resource type
    prop: Property | None  # None for a resource
    fields: dict[str, list] = field(default_factory=dict)  # JSON name → values in order
    value: object = None
    last_child: str | None = None  # the child element read last: the next may not precede it


@dataclass(slots=True)
class _Holder:
    """An element of type Resource (contained, Bundle.entry.resource): one resource inside."""

    location: str
    name: str
    resource: dict | None = None
    refusal: Phrase | None = None  # why it is refused, told at its end (a batch entry's alone)


@dataclass(slots=True)
class _Xhtml:
    """A narrative div, read as the text of the source, from its start tag's `<`."""

    location: str
    name: str
    start: int
    depth: int = 0


_Frame = _Object | _Holder | _Xhtml


def xml_to_resource(data: bytes, max_depth: int | None = None) -> dict:
    """The FHIR JSON of a FHIR XML resource (http://hl7.org/fhir/R4/xml.html). Malformed XML
    is a BadRequest, XML that is not FHIR an InvalidResource, both naming the element and its
    line; DTDs and entities are refused. The result is not validated. Elements nested deeper
    than `max_depth` are refused as they are read: each is at least one level of the JSON,
    and reading them all first took memory growing with the square of the depth (each open
    element's location is as long as its path)."""
    return read_xml(data, max_depth)[0]


def read_xml(data: bytes, max_depth: int | None = None) -> tuple[dict, list[Issue]]:
    """As `xml_to_resource`, with warnings of the elements out of their definition's order
    (http://hl7.org/fhir/R4/xml.html): read in that order all the same, as HAPI's parser does
    by default (the Ministry's VN Core sources have such elements); the HL7 validator and
    strict parsers refuse them."""
    reader = _Reader(data, max_depth)
    resource = reader.read()
    return resource, reader.order_warnings()


def read_xml_bundle(data: bytes, max_depth: int | None = None
                    ) -> tuple[dict, list[Issue], dict[int, list[Issue]]]:
    """As `read_xml`, for a batch or transaction: an entry whose resource is no valid FHIR XML
    (an unknown element, a wrong value) is left without its resource, and its errors are
    given by the entry's index, so that the entry fails alone as it would in JSON."""
    reader = _Reader(data, max_depth, tolerate_entries=True)
    bundle = reader.read()
    return bundle, reader.order_warnings(), reader.unreadable


class _Reader:
    def __init__(self, data: bytes, max_depth: int | None = None, tolerate_entries: bool = False):
        self.data = data
        self.max_depth = max_depth
        self.parser = safe_parser()
        self.parser.XmlDeclHandler = refuse_other_encoding
        handlers = (self._start, self._end, self._text)
        if tolerate_entries:
            handlers = (self._tolerant(self._start, 1), self._tolerant(self._end, -1),
                        self._tolerant(self._text, 0))
        (self.parser.StartElementHandler, self.parser.EndElementHandler,
         self.parser.CharacterDataHandler) = handlers
        self.stack: list[_Frame] = []
        self.result: dict | None = None
        self.disorder: list[Issue] = []  # the first elements out of order (_check_order)
        self.disorder_dropped = 0  # and how many more
        self.unreadable: dict[int, list[Issue]] = {}  # Bundle.entry index → its errors
        self._skipped: int | None = None  # elements of an unreadable entry still open
        # Values their type does not take, outside a Bundle's entries: reported together,
        # as the JSON reader reports them, not one per attempt.
        self.bad_values: list[Issue] = []

    def _tolerant(self, handle: Callable[..., None], opened: int) -> Callable[..., None]:
        """`handle`, but an error in a top-level Bundle's entry resource skips that resource
        to its end: `opened` is what the event does to the elements open (+1 a start tag)."""
        def handled(*event: object) -> None:
            if self._skipped is not None:
                self._skip(opened)
                return
            try:
                handle(*event)
            except InvalidResource as error:
                bundle = self._entry_bundle()
                if bundle is None:
                    raise
                self.unreadable[len(bundle.fields.get("entry", ()))] = error.issues
                if opened < 0 and len(self.stack) == 3:  # refused at its own end tag
                    self.stack.pop()
                    return
                # Open within the resource: those on the stack, and a start tag refused.
                self._skipped = len(self.stack) - 3 + max(opened, 0)
                del self.stack[3:]
        return handled

    def _entry_bundle(self) -> _Object | None:
        """The top-level Bundle, when what is read is inside one of its entries' resource."""
        if len(self.stack) < 3:
            return None
        bundle, entry, holder = self.stack[:3]
        if (isinstance(bundle, _Object) and bundle.name == "Bundle" and entry.name == "entry"
                and isinstance(holder, _Holder)):
            return bundle
        return None

    def _skip(self, opened: int) -> None:
        assert self._skipped is not None
        if opened < 0 and self._skipped == 0:  # the end of the entry's `resource`
            self.stack.pop()
            self._skipped = None
        else:
            self._skipped += opened

    def read(self) -> dict:
        # expat reads the document as UTF-8 whatever it declares, but detects UTF-16 by its
        # byte order mark or by NUL bytes, which UTF-8 XML never has (XML has no NUL).
        if self.data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
            b"\x00" in self.data
        ):
            raise refusal(BadRequest, "xml.not-utf8")
        try:
            self.parser.Parse(self.data, True)
        except XmlRefused as refused:
            raise phrased_refusal(BadRequest, refused.phrase) from None
        except expat.ExpatError as error:
            try:
                self.data.decode("utf-8")
            except UnicodeDecodeError as not_utf8:
                raise refusal(BadRequest, "xml.byte-not-utf8", position=not_utf8.start) from None
            raise refusal(BadRequest, "xml.not-well-formed", problem=xml_syntax(error)) from None
        if self.bad_values:
            raise InvalidResource(self.bad_values[0].diagnostics, issues=capped(self.bad_values))
        assert self.result is not None, "expat requires a root element"
        return self.result

    def _push(self, frame: _Frame) -> None:
        if self.max_depth is not None and len(self.stack) >= self.max_depth:
            raise refusal(BadRequest, "xml.at-line", problem=nested_too_deep(self.max_depth),
                          line=self.parser.CurrentLineNumber)
        self.stack.append(frame)

    def _error(self, problem: Phrase, location: str) -> FhirError:
        found = issue("xml.at-line", InvalidResource.code, location, problem=problem,
                      line=self.parser.CurrentLineNumber)
        earlier = self.bad_values if self._entry_bundle() is None else []
        return InvalidResource(found.diagnostics, issues=capped([*earlier, found]))

    # Events

    def _start(self, tag: str, attributes: dict[str, str]) -> None:
        top = self.stack[-1] if self.stack else None
        if isinstance(top, _Xhtml):
            top.depth += 1
            return
        namespace, _, name = tag.rpartition(NS_SEPARATOR)
        if isinstance(top, _Object):
            self._start_element(top, namespace, name, attributes)
            return
        location = top.location if top else name
        self._check_namespace(namespace, name, FHIR_NS, location)
        if top is not None and top.resource is not None:
            raise self._error(phrase("xml.second-resource", location=location, name=name),
                              location)
        if name not in registry().resource_types:
            raise self._error(phrase("xml.not-a-resource-type", name=name), location)
        frame = _Object(_tree(name), location, name, None)
        self._attributes(frame, attributes)
        self._push(frame)

    def _start_element(
        self, parent: _Object, namespace: str, name: str, attributes: dict[str, str]
    ) -> None:
        prop = parent.node.properties.get(name)
        if prop is None or name in xml_attributes(parent.node):
            location = f"{parent.location}.{name}"
            raise self._error(phrase("xml.unknown-element", name=name, parent=parent.location),
                              location)
        count = len(parent.fields.get(name, ()))
        if count and not prop.element.repeats:
            location = f"{parent.location}.{name}"
            raise self._error(phrase("xml.repeated", location=location), location)
        location = f"{parent.location}.{name}[{count}]" if prop.element.repeats else (
            f"{parent.location}.{name}"
        )
        self._check_order(parent, name, location)
        xhtml = prop.kind == PRIMITIVE and is_xhtml(prop.type)
        self._check_namespace(namespace, name, XHTML_NS if xhtml else FHIR_NS, location)
        frame: _Frame
        if xhtml:
            frame = _Xhtml(location, name, self.parser.CurrentByteIndex)
        elif prop.kind == RESOURCE:
            frame = _Holder(location, name, refusal=phrase(
                "xml.holder-attributes", location=location) if attributes else None)
        else:
            node = prop.node if prop.kind == BACKBONE and prop.node else _tree(prop.type)
            frame = _Object(node, location, name, prop)
            self._attributes(frame, attributes)
        self._push(frame)

    def _check_order(self, parent: _Object, name: str, location: str) -> None:
        """Elements come in the order of their definition, a repeating one's all together
        (http://hl7.org/fhir/R4/xml.html): `<given>` after `<family>` is out of order."""
        previous, parent.last_child = parent.last_child, name
        order = element_order(parent.node)
        if previous is None or order[name] >= order[previous]:
            return
        if len(self.disorder) < _MOST_DISORDER:
            self.disorder.append(issue(
                "xml-element-order", "structure", location, severity="warning", element=name,
                previous=previous, line=self.parser.CurrentLineNumber))
        else:
            self.disorder_dropped += 1

    def order_warnings(self) -> list[Issue]:
        """The first elements out of order, and how many more there were."""
        return self.disorder + ([issue(
            "issues-dropped", "informational", self.disorder[0].expression[0].split(".")[0],
            severity="information", left=self.disorder_dropped)] if self.disorder_dropped else [])

    def _end(self, _: str) -> None:
        frame = self.stack[-1]
        if isinstance(frame, _Xhtml) and frame.depth:
            frame.depth -= 1
            return
        if isinstance(frame, _Holder) and (frame.refusal or frame.resource is None):
            if len(self.stack) != 3:  # a Bundle entry's stays: in a batch, it fails alone
                self.stack.pop()
            raise self._error(frame.refusal or phrase("xml.holds-no-resource",
                                                      location=frame.location), frame.location)
        self.stack.pop()
        parent = self.stack[-1] if self.stack else None
        if isinstance(frame, _Xhtml):
            self._add(parent, frame.name, (self._xhtml(frame), None))
        elif isinstance(frame, _Holder):
            assert frame.resource is not None, "refused above"
            self._add(parent, frame.name, frame.resource)
        elif frame.prop is None:  # a resource
            resource = {"resourceType": frame.name, **_json_object(frame)}
            if isinstance(parent, _Holder):
                parent.resource = resource
            else:
                self.result = resource
        else:
            self._end_element(parent, frame)

    def _end_element(self, parent: _Frame | None, frame: _Object) -> None:
        assert frame.prop is not None
        content = _json_object(frame)
        if frame.prop.kind == PRIMITIVE:
            if frame.value is None and not content:
                raise self._error(phrase("xml.no-value", location=frame.location),
                                  frame.location)
            self._add(parent, frame.name, (frame.value, content or None))
            return
        if not content:
            raise self._error(phrase("xml.empty", location=frame.location), frame.location)
        self._add(parent, frame.name, content)

    def _text(self, text: str) -> None:
        top = self.stack[-1] if self.stack else None
        if not isinstance(top, _Xhtml) and not is_blank(text):
            where: str | Phrase = top.location if top else phrase("xml.the-document")
            raise self._error(phrase("xml.text", where=where), str(where))

    # Helpers

    def _check_namespace(self, namespace: str, name: str, expected: str, location: str) -> None:
        if namespace != expected:
            problem = (phrase("xml.wrong-namespace", namespace=namespace, name=name,
                              expected=expected, location=location) if namespace
                       else phrase("xml.no-namespace", name=name, expected=expected,
                                   location=location))
            raise self._error(problem, location)

    def _attributes(self, frame: _Object, attributes: dict[str, str]) -> None:
        """`value` of a primitive, and the properties the definition makes attributes."""
        allowed = xml_attributes(frame.node)
        for key, text in attributes.items():
            if key.startswith(XSI_NS + NS_SEPARATOR):
                continue
            location = frame.location if NS_SEPARATOR in key else f"{frame.location}.{key}"
            if key == "value" and frame.prop is not None and frame.prop.kind == PRIMITIVE:
                frame.value = self._value(text, frame.prop.type, frame.location)
            elif key in allowed:
                prop = frame.node.properties[key]
                frame.fields[key] = [(self._value(text, prop.type, location), None)]
            else:
                namespace, _, name = key.rpartition(NS_SEPARATOR)
                # As written (`xml:lang`), or by its namespace: expat's own form is neither.
                attribute = (f"xml:{name}" if namespace == _XML_NS
                             else f"{{{namespace}}}{name}" if namespace else name)
                raise self._error(phrase("xml.attribute", attribute=repr(attribute),
                                         location=frame.location), location)

    def _value(self, text: str, type_code: str, location: str) -> object:
        try:
            return json_value(text, type_code, location)
        except PhrasedError as error:
            # A value its type does not take: `value`, as the JSON reader codes it, not the
            # `structure` of an element or attribute the XML should not have.
            found = issue("xml.at-line", "value", location, problem=error.phrase,
                          line=self.parser.CurrentLineNumber)
            if self._entry_bundle() is not None:  # the entry fails alone (`_tolerant`)
                raise InvalidResource(found.diagnostics, issues=[found]) from None
            self.bad_values.append(found)
            if len(self.bad_values) >= MAX_BAD_VALUES:
                raise InvalidResource(found.diagnostics, issues=capped(self.bad_values)) from None
            return text  # read on for the others; the resource is refused at the end

    def _add(self, parent: _Frame | None, name: str, value: object) -> None:
        assert isinstance(parent, _Object), "elements are inside an object"
        parent.fields.setdefault(name, []).append(value)

    def _xhtml(self, frame: _Xhtml) -> str:
        """The div exactly as written; an empty element ends its own start tag."""
        start_tag = TAG.match(self.data, frame.start)
        assert start_tag is not None, "expat reported a start tag here"
        if start_tag.group().endswith(b"/>"):
            end = start_tag.end()
        else:
            end_tag = TAG.match(self.data, self.parser.CurrentByteIndex)
            assert end_tag is not None, "expat reported an end tag here"
            end = end_tag.end()
        text = self.data[frame.start : end].decode("utf-8")
        if (problem := xhtml_problem(text, frame.location)) is not None:
            raise self._error(problem, frame.location)
        return text


def _json_object(frame: _Object) -> dict:
    """The fields read into a JSON object in definition order; primitives as `x` and `_x`,
    arrays of them aligned with null (http://hl7.org/fhir/R4/json.html#primitive)."""
    result: dict = {}
    properties = frame.node.properties
    for name in sorted(frame.fields, key=element_order(frame.node).__getitem__):
        values = frame.fields[name]
        prop = properties[name]
        repeats = prop.element.repeats
        if prop.kind != PRIMITIVE:
            result[name] = values if repeats else values[0]
            continue
        plain = [value for value, _ in values]
        extras = [extra for _, extra in values]
        if any(value is not None for value in plain):
            result[name] = plain if repeats else plain[0]
        if any(extra is not None for extra in extras):
            result["_" + name] = extras if repeats else extras[0]
    return result
