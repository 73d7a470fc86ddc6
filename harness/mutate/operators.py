"""Mutation operators on one SQL statement or expression, each placed as a minimal text edit.

PostgreSQL's own parser (pglast) gives the tree; an operator says what the mutated tree must be,
and the edit is the smallest span of tokens whose removal or replacement parses to exactly that
tree (locations aside). An operator that finds no such edit yields nothing, so a mutant's SQL is
always what its operator describes, and the diff stays a line or two.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pglast import parser

Tree = Any  # pglast's JSON form: dicts, lists and scalars
Check = Callable[[Tree], bool]

FLIPS = {"<=": "<", "<": "<=", ">=": ">", ">": ">=", "=": "<>", "<>": "=", "!=": "="}
# How far past an expression's last located node its tokens may run (closing parens, CASE ... END).
MAX_TAIL_TOKENS = 200


@dataclass(frozen=True)
class Edit:
    """Replace bytes [start, end) of the text with `text`; `operator` and `summary` say why."""

    operator: str
    start: int
    end: int
    text: bytes
    summary: str


@dataclass(frozen=True)
class Token:
    start: int  # byte offsets, end exclusive
    end: int
    name: str


def tokens(text: bytes) -> list[Token]:
    """The lexer's tokens of `text`, with byte offsets (pglast's scanner counts characters)."""
    decoded = text.decode()
    offsets = [0]
    for ch in decoded:
        offsets.append(offsets[-1] + len(ch.encode()))
    return [Token(offsets[t.start], offsets[t.end + 1], t.name) for t in parser.scan(decoded)]


def parse(text: bytes) -> Tree | None:
    """The statements of `text` without locations, or None when PostgreSQL rejects it."""
    try:
        tree = json.loads(parser.parse_sql_json(text.decode()))
    except (parser.ParseError, UnicodeDecodeError):
        return None
    return strip([s["stmt"] for s in tree.get("stmts", [])])


def strip(tree: Tree) -> Tree:
    """`tree` without "location" keys: two trees are the same SQL when these are equal."""
    if isinstance(tree, dict):
        return {k: strip(v) for k, v in tree.items() if k != "location"}
    if isinstance(tree, list):
        return [strip(v) for v in tree]
    return tree


def raw_tree(text: bytes) -> Tree:
    return [s["stmt"] for s in json.loads(parser.parse_sql_json(text.decode())).get("stmts", [])]


def _nodes(tree: Tree, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str, Tree]]:
    """Every typed node ({"Type": {...}}) with its path from the root, in document order."""
    if isinstance(tree, dict):
        if len(tree) == 1:
            (kind, value), *_ = tree.items()
            if kind[:1].isupper() and isinstance(value, dict):
                yield path, kind, value
        for key, value in tree.items():
            yield from _nodes(value, (*path, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _nodes(value, (*path, i))


def _at(tree: Tree, path: tuple[Any, ...]) -> Tree:
    for step in path:
        tree = tree[step]
    return tree


def _locations(tree: Tree) -> list[int]:
    if isinstance(tree, dict):
        own = [tree["location"]] if isinstance(tree.get("location"), int) else []
        return own + [loc for v in tree.values() for loc in _locations(v)]
    if isinstance(tree, list):
        return [loc for v in tree for loc in _locations(v)]
    return []


def _span(tree: Tree) -> tuple[int, int]:
    locs = [loc for loc in _locations(tree) if loc >= 0]
    return (min(locs), max(locs)) if locs else (-1, -1)


class _Placer:
    """Finds, among candidate edits, the first whose result parses to the expected tree."""

    def __init__(self, text: bytes, root: Tree) -> None:
        self.text = text
        self.root = root
        self.toks = tokens(text)

    def index_at(self, offset: int) -> int:
        for i, tok in enumerate(self.toks):
            if tok.start >= offset:
                return i
        return len(self.toks)

    def prev_end(self, i: int) -> int:
        """Where the whitespace before token i starts (a comment before it is kept)."""
        j = self.toks[i].start if i < len(self.toks) else len(self.text)
        while j > 0 and self.text[j - 1 : j] in (b" ", b"\t", b"\r", b"\n"):
            j -= 1
        return j

    def starts(self, i: int) -> list[int]:
        """Where a removal ending after token i's start may begin: with the whitespace before
        it, or (when a line comment precedes it, which would swallow what follows) at it."""
        return [self.prev_end(i), self.toks[i].start]

    def display_span(self, node: Tree) -> tuple[int, int]:
        """Roughly the text of a small expression, for a summary: its first located token to
        its last, with a qualified name's tail (`q.max_attempts`) and a call's parentheses."""
        lo, hi = _span(node)
        i = self.index_at(hi)
        depth = 0
        while i + 1 < len(self.toks):
            nxt, cur = self.toks[i + 1].name, self.toks[i].name
            if depth > 0 or "ASCII_46" in (nxt, cur) or nxt in ("ASCII_40", "NULL_P", "NOT"):
                depth += (nxt == "ASCII_40") - (nxt == "ASCII_41")
                i += 1
            else:
                break
        return lo, self.toks[min(i, len(self.toks) - 1)].end

    def ends_from(self, i: int) -> list[int]:
        return [t.end for t in self.toks[i : i + MAX_TAIL_TOKENS]]

    def expect(self, mutate: Callable[[Tree], Tree | None]) -> Check | None:
        expected = copy.deepcopy(self.root)
        result = mutate(expected)
        if result is None:
            return None
        want = strip(result)
        return lambda got: got == want

    def place(
        self,
        operator: str,
        spans: Iterator[tuple[int, int]] | list[tuple[int, int]],
        text: bytes,
        check: Check | None,
    ) -> Edit | None:
        if check is None:
            return None
        for start, end in spans:
            if not 0 <= start <= end <= len(self.text):
                continue
            new = self.text[:start] + text + self.text[end:]
            got = parse(new)
            # The same tokens outside the edit: no token was swallowed by a comment.
            kept = sum(1 for t in self.toks if t.end <= start or t.start >= end)
            if got is not None and check(got) and len(tokens(new)) == kept + len(tokens(text)):
                old = self.text[start:end]
                return Edit(operator, start, end, text, _summary(old, text))
        return None


def _summary(old: bytes, new: bytes) -> str:
    def short(b: bytes) -> str:
        s = " ".join(b.decode().split())
        return s if len(s) <= 70 else s[:67] + "..."

    if not new:
        return f"drop `{short(old)}`"
    return f"`{short(old)}` -> `{short(new)}`"


def _replace_at(path: tuple[Any, ...], value: Tree) -> Callable[[Tree], Tree]:
    def mutate(root: Tree) -> Tree:
        if not path:
            return value
        _at(root, path[:-1])[path[-1]] = value
        return root

    return mutate


# ---------------------------------------------------------------------------------------------
# The operators. Each takes the placer, a typed node, its path, and yields edits.


def _bool_args(p: _Placer, path: tuple[Any, ...], node: Tree) -> Iterator[Edit]:
    op = node.get("boolop")
    if op not in ("AND_EXPR", "OR_EXPR"):
        return
    keyword, operator = ("AND", "drop-conjunct") if op == "AND_EXPR" else ("OR", "drop-disjunct")
    args = node["args"]
    spans = [_span(a) for a in args]
    if any(s[0] < 0 for s in spans):
        return
    for i in range(len(args)):
        rest = args[:i] + args[i + 1 :]
        value = rest[0] if len(rest) == 1 else {"BoolExpr": {**node, "args": rest}}
        check = p.expect(_replace_at(path, value))
        seps = [
            j
            for j, t in enumerate(p.toks)
            if t.name == keyword
            and (spans[i - 1][1] if i else spans[0][0]) < t.start
            and (t.start < spans[i][0] if i else t.start < spans[1][0])
        ]
        if i:
            # " AND arg_i": from the end of whatever precedes the separator to the arg's end.
            first = p.index_at(spans[i][1])
            cands = [(b, e) for s in seps[-1:] for b in p.starts(s) for e in p.ends_from(first)]
        else:
            # "arg_0 AND ": from the arg's first token (or an opening paren) to the next token.
            first = p.index_at(spans[0][0])
            starts = [p.toks[k].start for k in range(first, max(first - 4, -1), -1)]
            cands = [
                (s, p.toks[j + 1].start) for j in seps[-1:] if j + 1 < len(p.toks) for s in starts
            ]
        edit = p.place(operator, cands, b"", check)
        if edit:
            yield edit


def _flip(p: _Placer, path: tuple[Any, ...], node: Tree, kind: str) -> Iterator[Edit]:
    if kind == "A_Expr" and node.get("kind") == "AEXPR_OP" and len(node["name"]) == 1:
        op = node["name"][0]["String"]["sval"]
        loc = node.get("location", -1)
        if op in FLIPS and p.text[loc : loc + len(op)].decode() == op:
            flipped = {**node, "name": [{"String": {"sval": FLIPS[op]}}]}
            check = p.expect(_replace_at(path, {"A_Expr": flipped}))
            edit = p.place("flip-comparison", [(loc, loc + len(op))], FLIPS[op].encode(), check)
            if edit:
                yield _in_context(p, node, edit)
        return
    flips = {
        ("A_Expr", "kind", "AEXPR_DISTINCT"): "AEXPR_NOT_DISTINCT",
        ("A_Expr", "kind", "AEXPR_NOT_DISTINCT"): "AEXPR_DISTINCT",
        ("NullTest", "nulltesttype", "IS_NULL"): "IS_NOT_NULL",
        ("NullTest", "nulltesttype", "IS_NOT_NULL"): "IS_NULL",
    }
    for (k, field, old), new in flips.items():
        if kind != k or node.get(field) != old:
            continue
        check = p.expect(_replace_at(path, {kind: {**node, field: new}}))
        i = p.index_at(node.get("location", 0))
        window = p.toks[i : i + 3]
        if "NOT" in new:  # insert NOT after IS
            cands = [(t.start, t.start) for t in window if t.name in ("DISTINCT", "NULL_P")]
            edit = p.place("flip-comparison", cands, b"NOT ", check)
        else:  # remove NOT and the space after it
            cands = [
                (t.start, window[j + 1].start) for j, t in enumerate(window[:-1]) if t.name == "NOT"
            ]
            edit = p.place("flip-comparison", cands, b"", check)
        if edit:
            yield _in_context(p, node, edit)


def _in_context(p: _Placer, node: Tree, edit: Edit) -> Edit:
    """The edit, summarised with the whole comparison around it (`a = b` -> `a <> b`)."""
    lo, hi = p.display_span(node)
    lo, hi = min(lo, edit.start), max(hi, edit.end)
    before = p.text[lo:hi]
    after = p.text[lo : edit.start] + edit.text + p.text[edit.end : hi]
    return dataclasses.replace(edit, summary=_summary(before, after))


def _enum(
    p: _Placer,
    path: tuple[Any, ...],
    node: Tree,
    parent: tuple[str, Tree] | None,
    enums: dict[str, tuple[str, ...]],
) -> Iterator[Edit]:
    value = node.get("sval", {}).get("sval")
    if not isinstance(value, str):
        return
    if parent and parent[0] == "TypeCast":
        cast = [n["String"]["sval"] for n in parent[1]["typeName"]["names"]][-1]
        if cast not in enums:
            return  # e.g. 'completed'::text is a message, not a state
        candidates = [enums[cast]]
    else:
        candidates = [labels for labels in enums.values() if value in labels]
    loc = node.get("location", -1)
    quoted = f"'{value}'".encode()
    if p.text[loc : loc + len(quoted)] != quoted:
        return
    seen: set[str] = set()
    for labels in candidates:
        if value not in labels:
            continue
        new = labels[(labels.index(value) + 1) % len(labels)]
        if new in seen or new == value:
            continue
        seen.add(new)
        check = p.expect(_replace_at(path, {"A_Const": {**node, "sval": {"sval": new}}}))
        edit = p.place("enum-literal", [(loc, loc + len(quoted))], f"'{new}'".encode(), check)
        if edit:
            context = parent[1] if parent and parent[0] in ("A_Expr", "ResTarget") else node
            yield _in_context(p, context, edit)


def _drop_where(p: _Placer, path: tuple[Any, ...], node: Tree, kind: str) -> Iterator[Edit]:
    where = node.get("whereClause")
    if where is None or where.get("BoolExpr", {}).get("boolop") == "AND_EXPR":
        return  # an AND is mutated conjunct by conjunct
    lo, hi = _span(where)
    if lo < 0:
        return

    def mutate(root: Tree) -> Tree:
        del _at(root, path)["whereClause"]
        return root

    wheres = [j for j, t in enumerate(p.toks) if t.name == "WHERE" and t.start < lo]
    first = p.index_at(hi)
    cands = [(b, e) for j in wheres[-1:] for b in p.starts(j) for e in p.ends_from(first)]
    edit = p.place("drop-where", cands, b"", p.expect(mutate))
    if edit:
        yield edit


def _drop_lock(p: _Placer, path: tuple[Any, ...], node: Tree) -> Iterator[Edit]:
    clauses = node.get("lockingClause") or []
    fors = [
        j
        for j, t in enumerate(p.toks[:-1])
        if t.name == "FOR" and p.toks[j + 1].name in ("UPDATE", "SHARE", "NO", "KEY")
    ]
    for i, clause in enumerate(clauses):

        def drop(root: Tree, i: int = i) -> Tree:
            stmt = _at(root, path)
            stmt["lockingClause"] = stmt["lockingClause"][:i] + stmt["lockingClause"][i + 1 :]
            if not stmt["lockingClause"]:
                del stmt["lockingClause"]
            return root

        cands = [(b, t.end) for j in fors for b in p.starts(j) for t in p.toks[j + 1 : j + 9]]
        edit = p.place("drop-for-update", cands, b"", p.expect(drop))
        if edit:
            yield edit
        if clause["LockingClause"].get("waitPolicy") == "LockWaitSkip":

            def block(root: Tree, i: int = i) -> Tree:
                _at(root, path)["lockingClause"][i]["LockingClause"]["waitPolicy"] = "LockWaitBlock"
                return root

            skips = [j for j, t in enumerate(p.toks[:-1]) if t.name == "SKIP"]
            cands = [(b, p.toks[j + 1].end) for j in skips for b in p.starts(j)]
            edit = p.place("drop-skip-locked", cands, b"", p.expect(block))
            if edit:
                yield edit


def _drop_set(p: _Placer, path: tuple[Any, ...], targets: list[Tree]) -> Iterator[Edit]:
    n = len(targets)
    if n < 2:
        return
    locs = [t["ResTarget"].get("location", -1) for t in targets]
    for i in range(n):

        def mutate(root: Tree, i: int = i) -> Tree:
            items = _at(root, path)
            del items[i]
            return root

        if i < n - 1:
            commas = [
                t.end for t in p.toks if t.name == "ASCII_44" and locs[i] < t.start < locs[i + 1]
            ]
            cands = [(p.prev_end(p.index_at(locs[i])), c) for c in commas[-1:]]
        else:
            commas = [j for j, t in enumerate(p.toks) if t.name == "ASCII_44" and t.start < locs[i]]
            first = p.index_at(_span(targets[i])[1])
            cands = [(b, e) for j in commas[-1:] for b in p.starts(j) for e in p.ends_from(first)]
        edit = p.place("drop-set-column", cands, b"", p.expect(mutate))
        if edit:
            yield edit


def _on_conflict(p: _Placer, path: tuple[Any, ...], node: Tree) -> Iterator[Edit]:
    clause = node.get("onConflictClause")
    if not clause:
        return
    loc = clause.get("location", -1)
    on = p.index_at(loc)

    def remove(root: Tree) -> Tree:
        del _at(root, path)["onConflictClause"]
        return root

    cands = [(b, e) for b in p.starts(on) for e in p.ends_from(on + 3)]
    edit = p.place("on-conflict-remove", cands, b"", p.expect(remove))
    if edit:
        yield edit
    dos = [j for j in range(on, len(p.toks)) if p.toks[j].name == "DO"][:1]
    if clause.get("action") == "ONCONFLICT_UPDATE":

        def nothing(root: Tree) -> Tree:
            c = _at(root, path)["onConflictClause"]
            c["action"] = "ONCONFLICT_NOTHING"
            c.pop("targetList", None)
            c.pop("whereClause", None)
            return root

        cands = [(p.toks[j].start, e) for j in dos for e in p.ends_from(j + 1)]
        edit = p.place("on-conflict-nothing", cands, b"DO NOTHING", p.expect(nothing))
        if edit:
            yield edit
        return
    elems = clause.get("infer", {}).get("indexElems", [])
    column = elems[0]["IndexElem"].get("name") if elems else None
    if not column or not dos or dos[0] + 1 >= len(p.toks):
        return  # DO UPDATE needs a conflict target
    without = strip(p.root)
    del _at(without, path)["onConflictClause"]

    def updates(got: Tree) -> bool:
        c = _at(got, path).get("onConflictClause", {})
        rest = copy.deepcopy(got)
        del _at(rest, path)["onConflictClause"]
        return bool(c.get("action") == "ONCONFLICT_UPDATE" and rest == without)

    tok = p.toks[dos[0] + 1]
    text = f"UPDATE SET {column} = EXCLUDED.{column}".encode()
    edit = p.place("on-conflict-update", [(tok.start, tok.end)], text, updates)
    if edit:
        yield edit


def edits(text: bytes, enums: dict[str, tuple[str, ...]]) -> list[Edit]:
    """Every mutation of the SQL `text` (one or more statements), as placed edits."""
    try:
        root = raw_tree(text)
    except (parser.ParseError, UnicodeDecodeError):
        return []
    p = _Placer(text, root)
    out: list[Edit] = []
    parents: dict[tuple[Any, ...], tuple[str, Tree]] = {}
    for path, kind, node in _nodes(root):
        parents[path] = (kind, node)
        parent = _typed_parent(parents, path)
        node_path = (*path, kind)
        if kind == "BoolExpr":
            out += _bool_args(p, path, node)
        elif kind in ("A_Expr", "NullTest"):
            out += _flip(p, path, node, kind)
        elif kind == "A_Const":
            out += _enum(p, path, node, parent, enums)
        if kind in ("UpdateStmt", "DeleteStmt", "SelectStmt"):
            out += _drop_where(p, node_path, node, kind)
        if kind == "SelectStmt":
            out += _drop_lock(p, node_path, node)
        if kind == "UpdateStmt":
            out += _drop_set(p, (*node_path, "targetList"), node.get("targetList", []))
        if kind == "InsertStmt":
            out += _on_conflict(p, node_path, node)
            clause = node.get("onConflictClause") or {}
            if clause.get("targetList"):
                out += _drop_set(
                    p, (*node_path, "onConflictClause", "targetList"), clause["targetList"]
                )
            if clause.get("whereClause") is not None:
                out += _drop_where(p, (*node_path, "onConflictClause"), clause, "OnConflict")
    return out


def _typed_parent(
    parents: dict[tuple[Any, ...], tuple[str, Tree]], path: tuple[Any, ...]
) -> tuple[str, Tree] | None:
    """The nearest typed node above `path` (e.g. the TypeCast around a literal)."""
    for cut in range(len(path) - 1, -1, -1):
        if path[:cut] in parents:
            return parents[path[:cut]]
    return None
