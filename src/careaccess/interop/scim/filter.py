"""SCIM filters (RFC 7644 §3.4.2.2) parsed into a tree and turned into a Django Q.

Grammar (precedence: not > and > or; operators and attribute names are case-insensitive):

    filter    = or
    or        = and *("or" and)
    and       = unary *("and" unary)
    unary     = "not" "(" filter ")" / "(" filter ")" / valuePath / attrExp
    valuePath = attrPath "[" filter "]"
    attrExp   = attrPath "pr" / attrPath compareOp compValue
    compValue = "true" / "false" / "null" / number / JSON string

Only attributes mapped to indexed columns of the resource can be filtered on; any other raises
`FilterError` (scimType invalidFilter), as does anything malformed. Nothing is evaluated in Python.

Each comparison is written the way an index serves it (issue 8: at national scale a filter is an
index range, or a set operation on index scans, not a scan of the directory):

- a case-insensitive string (caseExact false) is compared folded to upper case, byte by byte
  (`directory.person_search.Folded`, the expression of the directory's folded indexes): `eq` and
  `sw` are a range of a B-tree index of that expression, `co` and `ew` a PostgreSQL trigram (GIN)
  index of it. Both sides are folded by the database's UPPER, as Django's `iexact` and `icontains`
  do, so the answers are theirs;
- case-exact strings keep Django's lookups, which the column's own indexes serve (`sw`: its
  `varchar_pattern_ops` index; `co`, `ew`: a trigram index of the column);
- `or` (outside a `not`) is the union of each side's rows, `pk IN (a UNION ALL b ...)`: each side
  its own index scan, where an OR of conditions on different tables or joins would be a scan.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from django.db import connection
from django.db.models import BooleanField, Func, Q, Value
from django.db.models.functions import Upper
from django.db.models.lookups import Exact

from careaccess.directory.person_search import Folded

OPERATORS = {"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"}
MAX_LENGTH = 2000
MAX_DEPTH = 20

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lparen>\() | (?P<rparen>\)) | (?P<lbracket>\[) | (?P<rbracket>\]) |
        (?P<string>"(?:[^"\\]|\\.)*") |
        (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w:.$-])) |
        (?P<word>[A-Za-z$][\w:.$-]*)
    )""",
    re.VERBOSE,
)


class FilterError(ValueError):
    """A filter that cannot be parsed or names an attribute that cannot be filtered on."""


@dataclass(frozen=True)
class Compare:
    path: str
    op: str
    value: Any


@dataclass(frozen=True)
class Present:
    path: str


@dataclass(frozen=True)
class And:
    left: Any
    right: Any


@dataclass(frozen=True)
class Or:
    left: Any
    right: Any


@dataclass(frozen=True)
class Not:
    inner: Any


@dataclass(frozen=True)
class ValuePath:
    path: str
    inner: Any


def tokenize(text: str) -> list[tuple[str, str]]:
    if len(text) > MAX_LENGTH:
        raise FilterError(f"the filter is longer than {MAX_LENGTH} characters")
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise FilterError(f"unexpected text at position {pos + 1}: {text[pos:pos + 20]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self, offset: int = 0):
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else (None, None)

    def take(self):
        token = self.peek()
        self.i += 1
        return token

    def expect(self, kind: str, what: str):
        got_kind, got = self.take()
        if got_kind != kind:
            raise FilterError(f"expected {what} but found {got!r}" if got else f"expected {what} but the filter ended")
        return got

    def is_word(self, word: str) -> bool:
        kind, value = self.peek()
        return kind == "word" and value.lower() == word

    def parse(self):
        if not self.tokens:
            raise FilterError("the filter is empty")
        node = self.parse_or()
        if self.i != len(self.tokens):
            raise FilterError(f"unexpected {self.peek()[1]!r} after a complete expression")
        return node

    def parse_or(self):
        node = self.parse_and()
        while self.is_word("or"):
            self.take()
            node = Or(node, self.parse_and())
        return node

    def parse_and(self):
        node = self.parse_unary()
        while self.is_word("and"):
            self.take()
            node = And(node, self.parse_unary())
        return node

    def nested(self, closing: str, what: str):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError(f"the filter nests deeper than {MAX_DEPTH} levels")
        node = self.parse_or()
        self.expect(closing, what)
        self.depth -= 1
        return node

    def parse_unary(self):
        kind, value = self.peek()
        if kind == "word" and value.lower() == "not" and self.peek(1)[0] == "lparen":
            self.take()
            self.take()
            return Not(self.nested("rparen", "')'"))
        if kind == "lparen":
            self.take()
            return self.nested("rparen", "')'")
        if kind != "word":
            raise FilterError(f"expected an attribute name but found {value!r}" if value else
                              "expected an attribute name but the filter ended")
        path = self.take()[1]
        if path.lower() in OPERATORS | {"and", "or", "not", "pr"}:
            raise FilterError(f"expected an attribute name but found the operator {path!r}")
        if self.peek()[0] == "lbracket":
            self.take()
            inner = self.nested("rbracket", "']'")
            if self.peek()[0] == "word" and self.peek()[1].startswith("."):
                raise FilterError("a sub-attribute after ']' is allowed in PATCH paths only, not in filters")
            return ValuePath(path, inner)
        kind, op = self.take()
        if kind != "word" or op.lower() not in OPERATORS | {"pr"}:
            raise FilterError(f"expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after {path!r}"
                              + (f" but found {op!r}" if op else ""))
        op = op.lower()
        if op == "pr":
            return Present(path)
        kind, raw = self.take()
        if kind == "string":
            try:
                value = json.loads(raw)
            except ValueError:
                raise FilterError(f"the string {raw} is not a valid JSON string") from None
        elif kind == "number":
            value = json.loads(raw)
        elif kind == "word" and raw.lower() in ("true", "false", "null"):
            value = {"true": True, "false": False, "null": None}[raw.lower()]
        else:
            raise FilterError(f"expected a value (a \"string\", number, true, false or null) after {path} {op}"
                              + (f" but found {raw!r}" if raw else ""))
        return Compare(path, op, value)


def parse(text: str):
    return _Parser(text).parse()


# --- turning the tree into a Q ---

@dataclass(frozen=True)
class Attr:
    """How one SCIM attribute maps to the database.

    kind: "string" (case-insensitive unless case_exact), "bool", "datetime", or "custom" with
    `build(op, value) -> Q` for attributes that are not one column (e.g. members);
    `build_all([(op, value), ...]) -> Q`, when given, builds the comparisons other than eq and ne
    of one such attribute that an `and` joins as one (userName: `ge ... and lt ...` one range on
    each of its indexes, not the intersection of two halves of the directory).
    `lower_key`: the column holds a lower-cased copy, so eq/sw on it is an indexed exact lookup.
    """

    column: str | None = None
    kind: str = "string"
    case_exact: bool = False
    lower_key: bool = False
    build: Callable[[str, Any], Q] | None = None
    build_all: Callable[[list[tuple[str, Any]]], Q] | None = None
    to_db: Callable[[Any], Any] | None = None


def _datetime(value) -> dt.datetime:
    if not isinstance(value, str):
        raise FilterError("compare dates with a string like \"2026-06-01T09:00:00Z\"")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(f"{value!r} is not a date-time like \"2026-06-01T09:00:00Z\"") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed


class _Like(Func):
    """`expression LIKE UPPER(pattern)`: a pattern match on a folded expression, the pattern folded
    by the same database function (SQLite's LIKE is told its escape character, PostgreSQL's is the
    backslash already)."""

    output_field = BooleanField()

    def as_sql(self, compiler, connection, **extra):
        expression, pattern = self.get_source_expressions()
        sql, params = compiler.compile(expression)
        pattern_sql, pattern_params = compiler.compile(pattern)
        escape = " ESCAPE '\\'" if connection.vendor == "sqlite" else ""
        return f"{sql} LIKE UPPER({pattern_sql}){escape}", (*params, *pattern_params)


_PATTERNS = {"co": "%{}%", "sw": "{}%", "ew": "%{}"}


def _folded_q(col: str, op: str, value: str) -> Q:
    """A case-insensitive comparison as the folded indexes serve it (eq, ne, co, sw, ew)."""
    if op in ("eq", "ne"):
        q = Q(Exact(Folded(col), Upper(Value(value))))
        return q if op == "eq" else ~q
    pattern = _PATTERNS[op].format(connection.ops.prep_for_like_query(value))
    return Q(_Like(Folded(col), Value(pattern)))


def _column_q(attr: Attr, path: str, op: str, value) -> Q:
    col = attr.column
    if attr.build is not None:
        return attr.build(op, value)
    if attr.kind == "bool":
        if op not in ("eq", "ne") or not isinstance(value, bool):
            raise FilterError(f"{path} is a boolean: compare it with eq or ne and true or false")
        q = Q(**{col: attr.to_db(value) if attr.to_db else value})
        return q if op == "eq" else ~q
    if attr.kind == "datetime":
        if op in ("co", "sw", "ew"):
            raise FilterError(f"{path} is a date-time: use eq, ne, gt, ge, lt or le")
        when = _datetime(value)
        lookups = {"eq": "", "ne": "", "gt": "__gt", "ge": "__gte", "lt": "__lt", "le": "__lte"}
        q = Q(**{col + lookups[op]: when})
        return ~q if op == "ne" else q
    # strings
    if value is None:
        if op == "eq":
            return Q(**{f"{col}__isnull": True}) | Q(**{col: ""})
        if op == "ne":
            return ~Q(**{f"{col}__isnull": True}) & ~Q(**{col: ""})
        raise FilterError(f"only eq and ne compare with null ({path} {op} null)")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise FilterError(f"{path} is a string: compare it with a \"string\"")
    value = str(value)
    if attr.to_db:
        value = attr.to_db(value)
    if attr.lower_key:
        value, exact = value.lower(), True
    else:
        exact = attr.case_exact
    if not exact and op in ("eq", "ne", "co", "sw", "ew"):
        return _folded_q(col, op, value)
    # Ordering (gt, ge, lt, le) compares the column as stored, whatever the attribute's case rule.
    lookup = {"eq": "", "ne": "", "co": "__contains", "sw": "__startswith", "ew": "__endswith",
              "gt": "__gt", "ge": "__gte", "lt": "__lt", "le": "__lte"}[op]
    q = Q(**{col + lookup: value})
    return ~q if op == "ne" else q


def _arms(node, kind) -> list:
    return _arms(node.left, kind) + _arms(node.right, kind) if isinstance(node, kind) else [node]


def to_q(node, attributes: dict[str, Attr], schema_urns: tuple[str, ...] = (), prefix: str = "", *,
         model=None, negated: bool = False) -> Q:
    """The Q for a parsed filter; `attributes` maps lower-cased attribute paths to columns.

    With `model` (the resource's model), an `or` that no `not` encloses is `pk IN (the union of
    each side's rows)`. Under a `not` it stays an OR: its complement is wanted, which the union
    would not give where a side compares NULL (Django's negation keeps those rows)."""

    def sub(inner, *, prefix=prefix, negated=negated) -> Q:
        return to_q(inner, attributes, schema_urns, prefix, model=model, negated=negated)

    def resolve(path: str) -> tuple[str, Attr]:
        name = path
        lowered = name.lower()
        for urn in schema_urns:
            if lowered.startswith(urn.lower() + ":"):
                core = urn.lower().startswith("urn:ietf:params:scim:schemas:core:")
                name = name[len(urn) + 1:] if core else name
                break
        full = (prefix + name).lower()
        attr = attributes.get(full) or attributes.get(full + ".value")
        if attr is None:
            raise FilterError(f"cannot filter on {prefix + name}: it is not an attribute of this resource that "
                              f"can be filtered (filterable: {', '.join(sorted(attributes))})")
        return prefix + name, attr

    if isinstance(node, And):
        together: dict[int, tuple[Attr, list]] = {}
        q = Q()
        for arm in _arms(node, And):
            if isinstance(arm, Compare) and arm.op not in ("eq", "ne"):
                attr = resolve(arm.path)[1]
                if attr.build_all is not None:
                    together.setdefault(id(attr), (attr, []))[1].append((arm.op, arm.value))
                    continue
            q &= sub(arm)
        for attr, conditions in together.values():
            q &= attr.build_all(conditions)
        return q
    if isinstance(node, Or):
        arms = [sub(arm) for arm in _arms(node, Or)]
        if model is None or negated:
            q = arms[0]
            for arm in arms[1:]:
                q |= arm
            return q
        rows = [model.objects.filter(arm).order_by().values("pk") for arm in arms]
        return Q(pk__in=rows[0].union(*rows[1:], all=True))
    if isinstance(node, Not):
        return ~sub(node.inner, negated=True)
    if isinstance(node, ValuePath):
        if prefix:
            raise FilterError("a value filter '[...]' cannot be nested inside another")
        return sub(node.inner, prefix=node.path + ".")
    if isinstance(node, Present):
        path, attr = resolve(node.path)
        if attr.build is not None:
            return attr.build("pr", None)
        if attr.kind == "string":
            return ~Q(**{f"{attr.column}__isnull": True}) & ~Q(**{attr.column: ""})
        return ~Q(**{f"{attr.column}__isnull": True})
    path, attr = resolve(node.path)
    return _column_q(attr, path, node.op, node.value)
