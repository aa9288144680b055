"""Compile the FHIRPath subset of the R4 search-parameter expressions into Python closures.

Index extraction runs on every write, so each SearchParameter expression is parsed once, typed
against the StructureDefinitions and turned into closures over the resource JSON. The subset of
http://hl7.org/fhirpath/ : paths flattening arrays, a leading type name filtering the context
(`Resource.` matches any resource), choice elements and `X as T` (per item, like `ofType(T)`),
`|`, parentheses, `where()`, `exists()`, `=`/`!=` against a string or boolean literal, `and`
and, in `where()`, `resolve() is T` (the `reference` is `[base/]T/id[/_history/n]` or `#id` of
a contained T); `as(T)`, the indexer `[n]`, `first()`, `last()`, FHIR's `extension(url)`
(fhirpath.html#functions: `extension.where(url = url)`) and `%resource`; a primitive's `id`
and `extension` (held in JSON by its `_name`: `fhirpath_runs`). Anything else raises
UnsupportedExpression when compiling. Values not of the JSON shape of their type
(http://hl7.org/fhir/R4/json.html) are skipped, never an error.
"""

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from fhir_server.conformance.json_format import canonical_json
from fhir_server.conformance.primitives import ID_REGEX
from fhir_server.conformance.type_codes import CORE
from fhir_server.search.fhirpath_elements import (
    JSON_CLASSES,
    SUBTYPES,
    SYSTEM_TYPES,
    UnsupportedExpression,
    children,
)
from fhir_server.search.fhirpath_runs import (
    ELEMENT_CHILDREN,
    Memo,
    Run,
    element_objects,
    identity,
    indexed,
    member,
    primitive_elements,
)
from fhir_server.search.fhirpath_tokens import tokenize

KEYWORDS = frozenset({"and", "as", "is", "true", "false"})
LITERALS = {"true": True, "false": False}
CONTEXT = re.compile(r"[A-Z][A-Za-z]*(\.[a-z][A-Za-z]*)*")


@dataclass(slots=True)  # not frozen: that __init__ costs 2.7 times more, tens per write
class Node:
    """One item of a result: the JSON value found and its FHIR type."""

    value: object
    type: str | None


@dataclass(frozen=True, slots=True)
class _Branch:
    """Part of a compiled expression whose items all have one statically known type; a
    primitive's also the run of its elements, whose id and extensions follow
    (`fhirpath_runs`)."""

    run: Run
    type: str | None
    scope: str | None
    elements: Run | None = None


@dataclass(frozen=True, slots=True)
class _Expr:
    """A compiled expression: its branches' items in turn, without duplicates after `|`."""

    branches: tuple[_Branch, ...]
    distinct: bool = False


_EMPTY = _Expr(())


def _context(resource_type: str) -> _Branch:
    """The input of an expression: a resource, or an element path (for composite components)."""
    if not CONTEXT.fullmatch(resource_type):
        raise UnsupportedExpression(f"not a resource type or element path: {resource_type!r}")
    parent, _, name = resource_type.rpartition(".")
    elements = children(parent, name) if parent else [(name, name, name)]
    if len(elements) != 1:
        raise UnsupportedExpression(f"choice element as a context: {resource_type}")
    return _Branch(identity, *elements[0][1:])


def _step(prev: Run, element: tuple[str, str, str]) -> _Branch:
    """The branch of a member (`fhirpath_runs.member`); a primitive's with its elements."""
    key, fhir_type, scope = element
    primitive = fhir_type[0].islower()
    classes = JSON_CLASSES.get(fhir_type) or ((str,) if primitive else (dict,))
    elements = primitive_elements(prev, key, classes) if primitive else None
    return _Branch(member(prev, key, classes), fhir_type, scope, elements)


def _member(expr: _Expr, name: str, memos: list[Memo]) -> _Expr:
    """`expr.name`, typed per branch; a choice element's branches share their input's run
    (a memo, added to `memos`)."""
    if expr.distinct:
        raise UnsupportedExpression(f"path step .{name} after a union")
    branches = []
    unknown: UnsupportedExpression | None = None
    for branch in expr.branches:
        if branch.elements is not None and name in ELEMENT_CHILDREN:
            # A primitive's id and extensions, from its `_name` object (json.html#primitive).
            branches.append(_step(element_objects(branch.elements), children("Element", name)[0]))
            continue
        try:
            elements = children(branch.scope, name)
        except UnsupportedExpression as error:
            # A choice's types each a branch: `Observation.value.unit` steps into the
            # Quantity one, the others have no such member (no values there).
            unknown = error
            continue
        prev = branch.run
        if len(elements) > 1:
            memos.append(prev := Memo(prev))
        branches += [_step(prev, e) for e in elements]
    if unknown is not None and not branches:
        raise unknown
    return _Expr(tuple(branches))


def _as(expr: _Expr, type_name: str) -> _Expr:
    """`expr as T`: the branches of type T or a specialisation of it; a FHIRPath system type
    (`as(DateTime)` in Observation-code-value-date) stands for its FHIR primitive."""
    type_name = SYSTEM_TYPES.get(type_name, type_name)
    subtypes = SUBTYPES.get(type_name, set())
    kept = (b for b in expr.branches if b.type == type_name or b.type in subtypes)
    return _Expr(tuple(kept), expr.distinct)


def _distinct(nodes: list[Node]) -> list[Node]:
    """The union's duplicates removed, first occurrences kept in order, in linear time (a
    resource may repeat an element thousands of times). FHIRPath equality: objects and
    arrays by their canonical JSON, booleans apart from the numbers Python equates them with."""
    seen: set[tuple] = set()
    kept = []
    for node in nodes:
        value = node.value
        json_value = isinstance(value, dict | list)
        key = (node.type, json_value or value.__class__ is bool,
               canonical_json(value) if isinstance(value, dict | list) else value)
        if key not in seen:
            seen.add(key)
            kept.append(node)
    return kept


def _collect(expr: _Expr) -> Callable[[list, dict], list[Node]]:
    """Evaluate all branches of `expr` to Nodes."""
    typed = [(branch.run, branch.type) for branch in expr.branches]
    if len(typed) == 1 and not expr.distinct:
        ((run, fhir_type),) = typed
        return lambda items, root: [Node(value, fhir_type) for value in run(items, root)]

    def collect(items: list, root: dict) -> list[Node]:
        nodes = [Node(value, t) for run, t in typed for value in run(items, root)]
        return _distinct(nodes) if expr.distinct else nodes

    return collect


def _boolean(run: Run) -> _Expr:
    return _Expr((_Branch(run, "boolean", None),))


def _truth(nodes: list[Node]) -> bool | None:
    """Singleton evaluation as a Boolean (http://hl7.org/fhirpath/#singleton-evaluation-of-
    collections); None for an empty collection and, where the spec has an error, several."""
    if len(nodes) != 1:
        return None
    value = nodes[0].value
    return value if value is True or value is False else True


def _equals(expr: _Expr, literal: object, negate: bool) -> _Expr:
    """`expr = literal` or `!=`: empty if `expr` is; false for several items or another type."""
    collect = _collect(expr)

    def run(items: list, root: dict) -> list:
        nodes = collect(items, root)
        if not nodes:
            return []
        value = nodes[0].value
        same = value == literal and (value.__class__ is bool) == (literal.__class__ is bool)
        return [(len(nodes) == 1 and same) is not negate]

    return _boolean(run)


def _and(left: _Expr, right: _Expr) -> _Expr:
    """Three-valued `and` (http://hl7.org/fhirpath/#and)."""
    collect_left, collect_right = _collect(left), _collect(right)

    def run(items: list, root: dict) -> list:
        first = _truth(collect_left(items, root))
        second = None if first is False else _truth(collect_right(items, root))
        if first is False or second is False:
            return [False]
        return [True] if first and second else []

    return _boolean(run)


def _where(branch: _Branch, criteria: Callable[[list, dict], list[Node]]) -> _Branch:
    """`where(criteria)` (http://hl7.org/fhirpath/#wherecriteria-expression)."""
    prev = branch.run

    def run(items: list, root: dict) -> list:
        return [v for v in prev(items, root) if _truth(criteria([v], root)) is True]

    return _Branch(run, branch.type, branch.scope)


def _resolves_to(expr: _Expr, target: str) -> _Expr:
    """`resolve() is T` over one Reference, decided from its `reference`; a logical one
    (`identifier` alone) from its `type` (`Patient`, or that type's StructureDefinition URL,
    which R4 relative type names stand for), as the target it names."""
    if not expr.branches:
        return _EMPTY
    if [branch.type for branch in expr.branches] != ["Reference"]:
        raise UnsupportedExpression("resolve() needs a single Reference input")
    pattern = re.compile(
        rf"(?:https?://[^?#\s]*/)?{target}/{ID_REGEX}(?:/_history/{ID_REGEX})?"
    )
    prev = expr.branches[0].run

    def refers(reference: dict, root: dict) -> bool:
        text = reference.get("reference")
        if text is None:
            return reference.get("type") in (target, CORE + target)
        if not isinstance(text, str) or not text.startswith("#"):
            return isinstance(text, str) and pattern.fullmatch(text) is not None
        contained = root.get("contained")
        return isinstance(contained, list) and any(
            isinstance(c, dict) and c.get("id") == text[1:] and c.get("resourceType") == target
            for c in contained
        )

    def run(items: list, root: dict) -> list:
        references = prev(items, root)
        return [refers(references[0], root)] if len(references) == 1 else []

    return _boolean(run)


def _each(branch: _Branch) -> _Expr:
    """`$this` of a function's criteria: each item of the branch, of its type."""
    return _Expr((_Branch(identity, branch.type, branch.scope),))


def _index(expr: _Expr, position: int) -> _Expr:
    """`expr[n]` (http://hl7.org/fhirpath/#index-integer-collection) over one branch."""
    if len(expr.branches) != 1 or expr.distinct:
        raise UnsupportedExpression("an indexer after a union or choice")
    branch = expr.branches[0]
    elements = indexed(branch.elements, position) if branch.elements else None
    return _Expr((_Branch(indexed(branch.run, position), branch.type, branch.scope, elements),))


class _Parser:
    """Recursive descent that compiles while it parses; each rule gets the input (`$this`) of
    its terms. Precedence: http://hl7.org/fhirpath/#operator-precedence."""

    def __init__(self, expression: str, context: _Branch):
        self.expression, self.tokens, self.position = expression, tokenize(expression), 0
        self.root = _Expr((context,))
        self.memos: list[Memo] = []
        is_resource = context.type == context.scope
        self.type_names = {context.type, "Resource", "DomainResource"} if is_resource else set()

    def peek(self) -> str:
        return self.tokens[self.position] if self.position < len(self.tokens) else ""

    def accept(self, token: str) -> bool:
        found = self.peek() == token
        self.position += found
        return found

    def take(self, valid: Callable[[str], object]) -> str:
        """The next token, which must be `valid`."""
        token = self.peek()
        if not valid(token):
            found = token or "the end"
            raise UnsupportedExpression(f"unsupported at {found!r} in {self.expression!r}")
        self.position += 1
        return token

    def expect(self, token: str) -> None:
        self.take(token.__eq__)

    def identifier(self) -> str:
        return self.take(lambda token: token[:1].isalpha() and token not in KEYWORDS)

    def resource(self) -> _Expr:
        """`%resource`: the resource the expression is evaluated in."""
        resource_type = (self.root.branches[0].scope or "").split(".")[0]
        return _Expr((_Branch(lambda items, root: [root], resource_type, resource_type),))

    def literal(self) -> object:
        token = self.take(lambda token: token in LITERALS or token.startswith("'"))
        return LITERALS.get(token, token[1:-1])

    def and_(self, this: _Expr) -> _Expr:
        expr = self.equality(this)
        while self.accept("and"):
            expr = _and(expr, self.equality(this))
        return expr

    def equality(self, this: _Expr) -> _Expr:
        expr = self.union(this)
        for operator in ("=", "!="):
            if self.accept(operator):
                return _equals(expr, self.literal(), negate=operator == "!=")
        return expr

    def union(self, this: _Expr) -> _Expr:
        expr = self.typed(this)
        while self.accept("|"):
            expr = _Expr(expr.branches + self.typed(this).branches, distinct=True)
        return expr

    def typed(self, this: _Expr) -> _Expr:
        expr = self.path(this)
        return _as(expr, self.identifier()) if self.accept("as") else expr

    def path(self, this: _Expr) -> _Expr:
        expr = self.term(this)
        while True:
            if self.accept("."):
                name = self.take(lambda t: t == "as" or t[:1].isalpha() and t not in KEYWORDS)
                expr = self.invocation(expr, name)
            elif self.peek().startswith("["):
                expr = _index(expr, int(self.take(str).strip("[]")))
            else:
                return expr

    def term(self, this: _Expr) -> _Expr:
        if self.accept("("):
            expr = self.and_(this)
            self.expect(")")
            return expr
        if self.accept("%resource"):
            return self.resource()
        name = self.identifier()
        if this is self.root and name[0].isupper():
            return this if name in self.type_names else _EMPTY
        return self.invocation(this, name)

    def invocation(self, this: _Expr, name: str) -> _Expr:
        if not self.accept("("):
            return _member(this, name, self.memos)
        if name == "where":
            return self.where(this)
        if name == "as":  # the function form of `as T`
            type_name = self.identifier()
            self.expect(")")
            return _as(this, type_name)
        if name in ("first", "last"):
            self.expect(")")
            return _index(this, 0 if name == "first" else -1)
        if name == "extension":
            return self.extension(this)
        if name not in ("exists", "resolve"):
            raise UnsupportedExpression(f"function {name}() in {self.expression!r}")
        self.expect(")")
        if name == "exists":
            runs = [branch.run for branch in this.branches]
            return _boolean(lambda items, root: [any(run(items, root) for run in runs)])
        self.expect("is")
        return _resolves_to(this, self.identifier())

    def extension(self, this: _Expr) -> _Expr:
        """`extension(url)`: the extensions of that url."""
        url = self.literal()
        self.expect(")")
        extensions = _member(this, "extension", self.memos)
        return _Expr(tuple(_where(branch, _collect(_equals(
            _member(_each(branch), "url", self.memos), url, negate=False)))
            for branch in extensions.branches), extensions.distinct)

    def where(self, this: _Expr) -> _Expr:
        """The criteria are compiled once per input branch, with that branch's type."""
        start, branches = self.position, []
        for branch in this.branches:
            self.position = start
            branches.append(_where(branch, _collect(self.and_(_each(branch)))))
        if not this.branches:
            self.and_(_EMPTY)
        self.expect(")")
        return _Expr(tuple(branches), this.distinct)


@functools.cache
def result_types(expression: str, resource_type: str) -> frozenset[str]:
    """The FHIR types of what `expression` yields on `resource_type` (`Identifier` for
    `Patient.identifier`); raises UnsupportedExpression as `compile_path` does."""
    parser = _Parser(expression, _context(resource_type))
    return frozenset(branch.type for branch in parser.and_(parser.root).branches
                     if branch.type is not None)


@functools.cache
def compile_path(expression: str, resource_type: str) -> Callable[..., list[Node]]:
    """Compile `expression` for resources of `resource_type`; call the result with the JSON.
    `resource_type` may also be an element path such as `Group.characteristic` (a composite's
    expression): its components (`code`, `value`) compile for the items it yields, called with
    the item and its resource (`%resource`). Raises UnsupportedExpression."""
    parser = _Parser(expression, _context(resource_type))
    collect = _collect(parser.and_(parser.root))
    parser.take(lambda token: not token)  # the end

    memos = parser.memos

    def evaluate(value: object, resource: dict | None = None) -> list[Node]:
        if not isinstance(value, dict):
            return []
        try:
            return collect([value], value if resource is None else resource)
        finally:
            for memo in memos:
                memo.last = None

    return evaluate
