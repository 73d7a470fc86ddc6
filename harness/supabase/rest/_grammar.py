"""The query-string grammar PostgREST accepts (src/PostgREST/ApiRequest/QueryParams.hs), for the
parts the emulation supports: select lists, filters, order terms, column lists. What it does not
support is refused by name (PGRST127) rather than misread."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.supabase.rest._errors import (
    Refusal,
    aggregates,
    not_embedded,
    not_implemented,
    parse_error,
)

# A filter operator and the SQL it becomes; `*` in a like pattern stands for `%`.
QUANT_OPS = {
    "eq": "=",
    "gte": ">=",
    "gt": ">",
    "lte": "<=",
    "lt": "<",
    "like": "LIKE",
    "ilike": "ILIKE",
    "match": "~",
    "imatch": "~*",
}
SIMPLE_OPS = {
    "neq": "<>",
    "cs": "@>",
    "cd": "<@",
    "ov": "&&",
    "sl": "<<",
    "sr": ">>",
    "nxr": "&<",
    "nxl": "&>",
    "adj": "-|-",
}
IS_VALUES = {"null": "NULL", "not_null": "NOT NULL", "true": "TRUE", "false": "FALSE"}
IS_VALUES["unknown"] = "UNKNOWN"
_FTS_OPS = ("fts", "plfts", "phfts", "wfts")
_OPERATOR = re.compile(r"(not\.)?([a-z]+)(\(([^)]*)\))?\.", re.DOTALL)
_INTEGER = re.compile(r"\s*(-?\d+)\s*")
# An alias is written into the statement (quoted), so it is held to a plain identifier's letters.
_ALIAS = re.compile(r"[\w $-]+")
_ORDER_SUFFIX = re.compile(r"(?:\.(asc|desc))?(?:\.(nullsfirst|nullslast))?")


@dataclass(frozen=True)
class SelectItem:
    column: str  # "*" for every column
    alias: str | None = None


@dataclass(frozen=True)
class Filter:
    column: str
    negate: bool
    op: str  # a key of QUANT_OPS or SIMPLE_OPS, or "is", "isdistinct", "in"
    value: str | tuple[str, ...]  # a tuple for "in"
    quantifier: str | None = None  # "any" or "all", for QUANT_OPS


@dataclass(frozen=True)
class OrderTerm:
    column: str
    direction: str | None  # "asc", "desc"
    nulls: str | None  # "nullsfirst", "nullslast"


def parse_select(text: str) -> tuple[SelectItem, ...]:
    """`select=a,b:c,*`; an empty select means every column."""
    if text.strip(" \t") == "":
        return (SelectItem("*"),)
    items = []
    for raw, column in _split_top(text, ","):
        item = raw.strip(" \t")
        bare = _unquoted(item)
        if "(" in bare:
            if re.search(r"(^|[.:])(count|sum|avg|max|min)\(\)(::\w+)?$", bare):
                raise aggregates()
            raise not_implemented("Embedding related resources in select")
        alias = None
        colon = bare.find(":")
        if colon >= 0 and bare[colon : colon + 2] != "::":
            alias = _field_name(item[:colon].strip(" \t"), "select parameter", text, column)
            if not _ALIAS.fullmatch(alias):
                raise parse_error("select parameter", text, column, "unexpected alias")
            item = item[colon + 1 :].strip(" \t")
            bare = _unquoted(item)
        if "::" in bare:
            raise not_implemented("A cast in select")
        if "->" in bare:
            raise not_implemented("A JSON path in select")
        if item == "*" and alias is None:
            items.append(SelectItem("*"))
        else:
            items.append(SelectItem(_field_name(item, "select parameter", text, column), alias))
    return tuple(items)


def parse_columns(text: str, what: str) -> tuple[str, ...]:
    """`columns=` and `on_conflict=`: field names separated by commas."""
    return tuple(
        _field_name(raw.strip(" \t"), f"{what} parameter", text, col)
        for raw, col in _split_top(text, ",")
    )


def parse_filter_key(key: str) -> str:
    """The column a filter's key names; a dotted key names an embedded resource."""
    if "->" in _unquoted(key):
        raise not_implemented("A JSON path in a filter")
    parts = [part for part, _ in _split_top(key, ".")]
    if len(parts) > 1:
        raise not_embedded(parts[0].strip('"'))
    return _field_name(key, "tree path", key, 1)


def parse_filter(column: str, text: str) -> Filter:
    """`eq.5`, `not.in.(a,"b,c")`, `is.null`, `like(any).{a*,b*}` ..."""
    found = _OPERATOR.match(text)
    if found is None:
        raise parse_error(
            "filter", text, 1, "unexpected end of input expecting operator (eq, gt, ...)"
        )
    negate, op, quantifier = bool(found.group(1)), found.group(2), found.group(4)
    rest = text[found.end() :]
    if op in _FTS_OPS:
        raise not_implemented("Full-text search filters")
    if op == "in" and quantifier is None:
        return Filter(column, negate, "in", _parse_list(rest, text))
    if op == "is" and quantifier is None:
        word = next((w for w in IS_VALUES if rest.lower().startswith(w)), None)
        if word is None:
            raise parse_error(
                "filter",
                text,
                found.end() + 1,
                "expecting isVal: (null, not_null, true, false, unknown)",
            )
        # Parsec stops after the keyword: anything after it is ignored, as PostgREST ignores it.
        return Filter(column, negate, "is", word)
    if op == "isdistinct" and quantifier is None:
        return Filter(column, negate, "isdistinct", rest)
    if op in SIMPLE_OPS and quantifier is None:
        return Filter(column, negate, op, rest)
    if op in QUANT_OPS and quantifier in (None, "any", "all"):
        return Filter(column, negate, op, rest, quantifier)
    raise parse_error("filter", text, 1, "unexpected input expecting operator (eq, gt, ...)")


def looks_like_filter(text: str) -> bool:
    """Whether a GET /rpc parameter's value is a filter (`eq.1`) rather than an argument."""
    try:
        parse_filter("_", text)
    except Refusal:
        return False
    return True


def parse_order(text: str) -> tuple[OrderTerm, ...]:
    terms = []
    for raw, column in _split_top(text, ","):
        term = raw.strip(" \t")
        if "(" in _unquoted(term):
            raise not_implemented("Ordering by a related resource")
        if "->" in _unquoted(term):
            raise not_implemented("A JSON path in order")
        dot = _find_unquoted(term, ".")
        name, suffix = (term, "") if dot < 0 else (term[:dot], term[dot:])
        found = _ORDER_SUFFIX.fullmatch(suffix)
        if found is None:
            raise parse_error(
                "order",
                text,
                column + len(name),
                'expecting "asc", "desc", "nullsfirst" or "nullslast"',
            )
        field = _field_name(name.strip(" \t"), "order", text, column)
        terms.append(OrderTerm(field, found.group(1), found.group(2)))
    return tuple(terms)


def parse_integer(text: str) -> int | None:
    """limit and offset as Haskell's readMaybe reads them: anything else is ignored."""
    found = _INTEGER.fullmatch(text)
    return int(found.group(1)) if found else None


def _parse_list(rest: str, text: str) -> tuple[str, ...]:
    """`(a,"b,c",d)`: elements are bare (no `,` or `)`) or double-quoted with `\\` escapes."""
    body = rest.lstrip(" \t")
    if not body.startswith("("):
        raise parse_error("filter", text, len(text) - len(body) + 1, 'expecting "("')
    values: list[str] = []
    i = 1
    while True:
        if body.startswith('"', i):
            value, j = _quoted(body, i)
            if j < len(body) and body[j] in ",)":
                values.append(value)
                i = j
            else:
                end = _until(body, i, ",)")
                values.append(body[i:end])
                i = end
        else:
            end = _until(body, i, ",)")
            values.append(body[i:end])
            i = end
        if i >= len(body):
            raise parse_error(
                "filter", text, len(text) + 1, 'unexpected end of input expecting ")"'
            )
        if body[i] == ")":
            return tuple(values)
        i += 1  # the comma


def _field_name(text: str, what: str, whole: str, column: int) -> str:
    """A column name: double-quoted (with `\\` escapes), or letters, digits, `_`, `$`, spaces and
    inner dashes."""
    if text.startswith('"'):
        value, end = _quoted(text, 0)
        if end == len(text) and value:
            return value
    elif text and re.fullmatch(r"[\w $]+(-[\w $]+)*", text) and text.strip(" "):
        return text.strip(" ")
    shown = text[:1] if text else "end of input"
    raise parse_error(what, whole, column, f'unexpected "{shown}" expecting field name')


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The value of the double-quoted string at `start` and the index just after it."""
    out = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif ch == '"':
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise parse_error("value", text, len(text) + 1, 'unexpected end of input expecting "\\""')


def _until(text: str, start: int, stops: str) -> int:
    i = start
    while i < len(text) and text[i] not in stops:
        i += 1
    return i


def _split_top(text: str, sep: str) -> list[tuple[str, int]]:
    """`text` split on `sep` outside double quotes and parentheses, each part with its 1-based
    column."""
    parts: list[tuple[str, int]] = []
    depth, quoted, start = 0, False, 0
    i = 0
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append((text[start:i], start + 1))
            start = i + 1
        i += 1
    parts.append((text[start:], start + 1))
    return parts


def _unquoted(text: str) -> str:
    """`text` with its double-quoted parts blanked, to look for syntax outside them."""
    return re.sub(r'"(?:\\.|[^"\\])*"', lambda m: " " * len(m.group()), text)


def _find_unquoted(text: str, needle: str) -> int:
    return _unquoted(text).find(needle)
