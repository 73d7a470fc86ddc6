"""The TypeScript Edge Functions, without the harness: Deno's type check, lint and format check on
both function trees, and the port's Python-compatible parts against Python itself.

Python computes every expected value here (content hashes, `summarise` results and errors,
`row_id` ids and error texts, the handlers' requests and replies on scripted rows and API
answers) and hands them to the Deno tests under supabase/functions/_shared/ in a JSON file. Deno
comes with the `deno` wheel, so nothing here is skipped; the first run fetches supabase-js from npm
into the Deno cache (harness.functions.deno.deno_dir()).
"""

from __future__ import annotations

import base64
import json
import math
import random
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from harness.fakeapi import generate_dataset
from harness.functions.deno import deno_binary, deno_env
from threadsync import page_worker, processor
from threadsync.pipeline import Context, Params, Reply, Row
from threadsync.processor import content_hash, summarise
from threadsync.provider import ProviderError, Thread, ThreadPage, _parse_page, _parse_thread
from threadsync.pyjson import MAX_DEPTH
from threadsync.queries import reference
from threadsync.webhook import MAX_ROW_ID, BadWebhook, row_id

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "supabase" / "functions"
TREES = {
    "reference": REFERENCE,
    "incident": ROOT / "examples" / "incident" / "supabase" / "functions",
}
FIXTURE_ENV = "THREADSYNC_PY_FIXTURE"  # as in supabase/functions/_shared/python_fixture.ts
PAGE, ENTRY = "sync_page_queue", "thread_processing_queue"
TIMEOUT = 600  # the first type check downloads supabase-js


def deno(
    tree: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Deno in `tree` (so its deno.json applies), its output captured."""
    return subprocess.run(
        [str(deno_binary()), *args],
        cwd=tree,
        env={**deno_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize("tree", list(TREES))
@pytest.mark.parametrize(
    "command",
    [("check", "."), ("lint", "."), ("fmt", "--check", ".")],
    ids=["check", "lint", "fmt"],
)
def test_deno_tooling_passes(tree: str, command: tuple[str, ...]) -> None:
    result = deno(TREES[tree], *command)
    assert result.returncode == 0, f"deno {' '.join(command)} in {TREES[tree]}:\n" + (
        result.stdout + result.stderr
    )


def run_deno_test(tmp_path: Path, test_file: str, **cases: list[dict[str, Any]]) -> None:
    """Run one Deno test file of _shared/ with `cases` as its fixture; every test must run."""
    fixture = {"hash": [], "summarise": [], "webhook": [], "handlers": [], **cases}
    path = tmp_path / "fixture.json"
    path.write_text(json.dumps(fixture), encoding="utf-8")
    result = deno(
        REFERENCE,
        "test",
        f"--allow-read={path}",
        f"--allow-env={FIXTURE_ENV}",
        f"_shared/{test_file}",
        env={FIXTURE_ENV: str(path)},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " 0 failed" in output and "ignored" not in output, output


def b64(body: bytes) -> str:
    return base64.b64encode(body).decode()


# --- values ---------------------------------------------------------------------------------------

# Characters from every class that matters (quotes, controls, DEL, Latin-1, format characters,
# separators, the ends of the BMP, astral, lone surrogates), all assigned since Unicode 6, so that
# Python's and V8's Unicode databases agree on which are printable.
CHARS = "aZ09 '\"\\/\t\n\x00\x1f\x7f\x80\xa0\xe9\xff\u0100\u200b\u2028\u4e2d\ue000\uffff"
CHARS += "\U00010000\U0001f600\ud800\udfff"
FLOATS = [0.0, -0.0, 1.0, 1e15, 1e16, 1e20, 1e-4, 1e-5, 0.1 + 0.2, 5e-324, 1.7976931348623157e308]
SPECIAL = [math.nan, math.inf, -math.inf]
INTS = [0, 1, -1, 2**53 + 1, 2**63 - 1, 2**63, 2**199, 2**200, -(2**300), 10**400]


def random_text(rng: random.Random, longest: int = 12) -> str:
    return "".join(rng.choice(CHARS) for _ in range(rng.randint(0, longest)))


def random_value(rng: random.Random, depth: int = 0, nan: bool = True) -> Any:
    """Any JSON value Python can read: floats and ints of every kind, NaN, odd strings, nesting."""
    kinds = ["null", "bool", "int", "float", "str"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([*INTS, rng.randint(-(10**6), 10**6)])
    if kind == "float":
        pool = FLOATS + (SPECIAL if nan else [])
        return rng.choice(
            [*pool, rng.uniform(-1e6, 1e6), rng.random() * 10 ** rng.randint(-30, 30)]
        )
    if kind == "str":
        return random_text(rng)
    if kind == "list":
        return [random_value(rng, depth + 1, nan) for _ in range(rng.randint(0, 4))]
    return {
        random_text(rng, 4): random_value(rng, depth + 1, nan) for _ in range(rng.randint(0, 4))
    }


# --- content hash and summarise -------------------------------------------------------------------

HASH_TEXTS = [
    '{"id": "a", "n": 1.0, "m": 1, "e": 1e20, "E": 1E+2, "z": -0, "zf": -0.0}',
    '{"big": 123456789012345678901234567890, "neg": -98765432109876543210}',
    '{"x": NaN, "y": Infinity, "z": -Infinity}',
    '{"lone": "\\ud800", "pair": "\\ud83d\\ude00", "low": "\\udc00x"}',
    '{"raw": "é中😀", "esc": "\\u00e9\\u4e2d"}',
    '{"\\uffff": 1, "\\ud800\\udc00": 2, "a": 3, "": 4, "B": 5}',
    '{"a": 1, "a": 2, "b": {"a": [], "b": {}}}',
    '{"l": [], "d": {}, "n": null, "t": true, "f": false}',
    '{"small": 0.1, "tiny": 2.5e-7, "max": 1.7976931348623157e308, "min": 5e-324}',
    '{"ctl": "\\u0000\\u001f\\u007f\\u0080\\b\\f\\n\\r\\t\\/"}',
    ' \n\t{ "spaced" :\r[ 1 , 2 ] } \n',
    "[" * 100 + "1" + "]" * 100,
]


def hash_cases() -> Iterator[dict[str, Any]]:
    bodies = [(f"text {i}", t.encode()) for i, t in enumerate(HASH_TEXTS)]
    for thread in generate_dataset(0, 12).threads:
        bodies.append((f"dataset {thread['id']}", json.dumps(thread).encode()))
        raw = json.dumps(thread, ensure_ascii=False).encode()
        bodies.append((f"dataset {thread['id']} as UTF-8", raw))
    rng = random.Random(1)
    for i in range(300):
        bodies.append((f"random {i}", json.dumps(random_value(rng)).encode()))
    for name, body in bodies:
        yield {"name": name, "body": b64(body), "hash": content_hash(json.loads(body))}


def thread_variants() -> Iterator[tuple[str, Any]]:
    base = generate_dataset(1, 1).threads[0]
    yield "dataset thread", base
    changes: dict[str, dict[str, Any]] = {
        "no subject": {"subject": None},
        "subject not str": {"subject": 7},
        "messages str": {"messages": "hello"},
        "messages empty dict": {"messages": {}},
        "messages zero": {"messages": 0},
        "messages dict": {"messages": {"a": 1}},
        "odd sent_at": {
            "messages": [
                {"sent_at": 5},
                {"sent_at": 1.5},
                {"sent_at": [1, "a", None]},
                {"sent_at": {"k": True}},
                {"sent_at": ""},
                {"sent_at": 0},
                {"sent_at": "\U00010000"},
                {"sent_at": "\uffff"},
                "not a message",
                [],
            ]
        },
        "participants str": {"participants": "cba\U00010000\uffff"},
        "participants dict": {"participants": {"b": 1, "a": 2}},
        "participants int": {"participants": 5},
        "participants float": {"participants": 2.5},
        "participants true": {"participants": True},
        "participants false": {"participants": False},
        "participants mixed": {"participants": [1, "a"]},
        "participants numbers": {"participants": [2, 1.5, True, False, 0.0, 10**30, -(10**30)]},
        "participants lists": {"participants": [[1, 2], [1, 1.5], [1], [], [0, "a"]]},
        "participants lists clash": {"participants": [[1, 2], [1, "a"]]},
        "participants none": {"participants": [None, None]},
        "participants dicts": {"participants": [{"a": 1}, {"a": 1}]},
        "participants long": {"participants": [f"p{i % 17}" for i in range(70)]},
        "participants long mixed": {"participants": [*range(70), "x"]},
        "id quoted": {"id": 'it\'s "t"', "subject": None},
        "updated_at odd": {"updated_at": [1.0, None]},
    }
    if sys.version_info < (3, 13):  # 3.13 reworked list.sort's runs: NaN orders differently
        changes["participants nan"] = {"participants": [3, math.nan, 1, 2, math.nan, 0]}
    for name, change in changes.items():
        yield name, {**base, **change}
    missing = dict(base)
    del missing["id"]
    yield "no id", missing
    rng = random.Random(2)
    nan = sys.version_info < (3, 13)
    for i in range(200):
        thread: dict[str, Any] = {"id": random_text(rng)}
        for key in ("subject", "participants", "messages", "updated_at"):
            if rng.random() < 0.8:
                thread[key] = random_value(rng, nan=nan)
        if rng.random() < 0.5:
            thread["subject"] = random_text(rng)
        if rng.random() < 0.5:
            thread["messages"] = [
                {"sent_at": random_value(rng, 2, nan=nan)} for _ in range(rng.randint(0, 3))
            ]
        yield f"random {i}", thread


def summarise_cases() -> Iterator[dict[str, Any]]:
    for name, thread in thread_variants():
        body = json.dumps(thread).encode()
        try:
            result: str | None = json.dumps(summarise(json.loads(body)), sort_keys=True)
            error = None
        except (ValueError, KeyError, TypeError) as e:
            result, error = None, f"{type(e).__name__}: {e}"
        yield {"name": name, "body": b64(body), "result": result, "error": error}


def test_content_hash_matches_python(tmp_path: Path) -> None:
    run_deno_test(
        tmp_path, "hash_test.ts", hash=list(hash_cases()), summarise=list(summarise_cases())
    )


# --- webhook bodies -------------------------------------------------------------------------------

MALFORMED = [
    b"",
    b" ",
    b"[1,]",
    b'{"a":1,}',
    b'"\\"',
    b'"abc',
    b"[1 2]",
    b'{"a" 1}',
    b"{1:2}",
    b"nul",
    b"tru",
    b"-",
    b"-x",
    b"1.",
    b"1e",
    b"1e+",
    b"01",
    b'"\\x"',
    b'"\\u12"',
    b'"\\u12G4"',
    b'"\\ud800\\u12"',
    b'"\\ud800\\u12G4x"',
    b'"a\x01"',
    b"[1]x",
    b"[",
    b"{",
    b'{"a":',
    b"{\n\n  x",
    b"NaN",
    b"-Infinity",
    b"1" * 5000,
    b"-" + b"1" * 4301,
    b"\xff",
    b"\xe2\x82",
    b"\xe2\x28\xa1",
    b"\xed\xa0\x80",
    b"\xed\xa0",
    b'"\xed\xa0\x80"',
    b"\xef\xbb\xbf\xff",
    b"\xef\xbb\xbf{}",
    b"1\x00",
    b"{\x00}\x00\x00",
    b"\x00\x001\x00",
    b"\xf0\x90\x80",
    b"\xf4\x90\x80\x80",
    b"\xc0\xaf",
    b"\xe0\x80\xaf",
    b"\xf0\x80\x80\xaf",
    b"\x80",
    b"\xfe\xff\x00{\x00}",
    b"\xff\xfe{\x00}\x00",
    b"\xff\xfe{\x00}",
    b"\xff\xfe\x00\x00{\x00\x00\x00",
    b"\x00\x00\x00{\x00\x00\x00}",
    b"{\x00\x00\x00}\x00\x00\x00",
    b"\x00\x00\x11\x00",
    b"[" * 5000,
    b"[" * 5000 + b"1" + b"]" * 5000,
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
]
ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.0,
    1.5,
    -0.0,
    1e300,
    math.nan,
    math.inf,
    "insert",
    "UPDATE",
    "",
    "it's",
    'say "hi"',
    "both ' and \"",
    "\x00\x1f\x7f\x80\xa0\u200b\u2028\ud800\U0001f600\ue000\uffff",
    "x" * 100,
    "\U0001f600" * 90,
    "\\" * 50,
    [],
    [1],
    {},
    {"id": 1},
    2**199,
    2**200,
    -(2**300),
    10**400,
    *INTS,
]


def nesting_bodies(valid: dict[str, Any]) -> list[bytes]:
    """Bodies at and around the nesting limit (threadsync/pyjson.py, _shared/pyjson.ts): which
    error wins, the depth or json's own, and brackets that nest nothing."""
    d = MAX_DEPTH
    return [
        b"[" * d + b"]" * d,
        b"[" * (d + 1) + b"]" * (d + 1),
        b'{"a":' * d + b"1" + b"}" * d,
        b'{"a":' * (d + 1) + b"1" + b"}" * (d + 1),
        b"[" * d,
        b"[" * (d + 1),
        b"[1 2" + b"[" * (d + 1),
        b"[" * d + b"1[" + b"]" * (d + 1),
        b"{" + b"[" * (d + 1),
        b'{"a"' + b"[" * (d + 1),
        b"1 " + b"[" * (d + 1),
        b"]" + b"[" * (d + 1),
        b'["\\"' + b"[" * (d + 1),
        b'["' + b"[" * (d + 1),
        b"\xef\xbb\xbf" + b"[" * (d + 1),
        ("[" * (d + 1)).encode("utf-16"),
        json.dumps({**valid, "schema": "[" * (2 * d)}).encode(),
        json.dumps({**valid, "schema": '\\"' + "{" * (2 * d)}).encode(),
    ]


def webhook_bodies(table: str) -> Iterator[tuple[str, bytes]]:
    valid = {"type": "INSERT", "table": table, "schema": "public", "record": {"id": 42}}
    text = json.dumps(valid).encode()
    yield "valid", text
    for i, body in enumerate(MALFORMED):
        yield f"malformed {i}", body
    for i, value in enumerate(ODD_VALUES):
        yield f"payload {i}", json.dumps(value).encode()
        for key in ("type", "table", "record"):
            yield f"{key} {i}", json.dumps({**valid, key: value}).encode()
        yield f"id {i}", json.dumps({**valid, "record": {"id": value}}).encode()
    for i, body in enumerate(nesting_bodies(valid)):
        yield f"nesting {i}", body
    yield "no record", json.dumps({"type": "INSERT", "table": table}).encode()
    yield "no id", json.dumps({**valid, "record": {"ident": 1}}).encode()
    for encoding in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-8-sig"):
        yield encoding, json.dumps(valid).encode(encoding)
        yield f"{encoding} cut", json.dumps(valid).encode(encoding)[:-1]
    for cut in range(len(text)):
        yield f"cut {cut}", text[:cut]
    rng = random.Random(3)
    for i in range(300):
        corrupt = bytearray(text)
        for _ in range(rng.randint(1, 3)):
            corrupt[rng.randrange(len(corrupt))] = rng.choice(
                b'{}[]",:0123456789eE.-+ \\ux\x00\xff\xc3'
            )
        yield f"corrupt {i}", bytes(corrupt)
    for i in range(100):
        payload = {**valid, rng.choice(["type", "table", "record"]): random_value(rng)}
        yield f"random {i}", json.dumps(payload).encode()


def webhook_cases() -> Iterator[dict[str, Any]]:
    for table in (PAGE, ENTRY):
        for name, body in webhook_bodies(table):
            try:
                ident: str | None = str(row_id(body, table))
                error = None
            except BadWebhook as e:
                ident, error = None, str(e)
            yield {"name": f"{table} {name}", "body": b64(body), "table": table, "id": ident,
                   "error": error}  # fmt: skip


def test_webhook_errors_match_python(tmp_path: Path) -> None:
    run_deno_test(tmp_path, "webhook_test.ts", webhook=list(webhook_cases()))


# --- handlers -------------------------------------------------------------------------------------

NAMES = {sql: name for name, sql in reference().items()}
ARGUMENTS = {"retry_after": "p_retry_after_seconds"}  # the others are p_<name>


class ScriptedDb:
    """Answers each query with the next scripted row; logs it as the RPC a port must call."""

    def __init__(self, rows: list[Row], calls: list[str]):
        self.rows = list(rows)
        self.calls = calls

    def query(self, sql: str, params: Params | None = None) -> list[Row]:
        assert isinstance(params, dict)
        args = {
            ARGUMENTS.get(k, f"p_{k}"): json.loads(v) if k in ("threads", "result") else v
            for k, v in params.items()
        }
        self.calls.append(f"rpc {NAMES[sql]} {json.dumps(args, sort_keys=True)}")
        row = dict(self.rows.pop(0))
        if isinstance(row.get("next_retry_at"), str):
            row["next_retry_at"] = datetime.fromisoformat(row["next_retry_at"])
        return [row]

    def transaction(self) -> AbstractContextManager[None]:
        raise AssertionError("the handlers use no transaction")


class ScriptedApi:
    """Answers each call with the next scripted HTTP answer, as the fake API would have."""

    def __init__(self, answers: list[dict[str, Any]], calls: list[str]):
        self.answers = list(answers)
        self.calls = calls

    def fetch_page(self, cursor: str | None, page_size: int) -> ThreadPage:
        query: dict[str, str | int] = {"limit": page_size}
        if cursor is not None:
            query["cursor"] = cursor
        self.calls.append(f"GET /threads?{urllib.parse.urlencode(query)}")
        return _parse_page(self._answer())

    def fetch_thread(self, thread_id: str) -> Thread:
        self.calls.append(f"GET /threads/{urllib.parse.quote(thread_id, safe='')}")
        return _parse_thread(self._answer())

    def _answer(self) -> bytes:
        answer = self.answers.pop(0)
        body = base64.b64decode(answer["body"])
        if answer["status"] == 200:
            return body
        payload = json.loads(body)
        retry = answer["retry_after"]
        raise ProviderError(
            payload["error"],
            status=answer["status"],
            retry_after=float(retry) if answer["status"] == 429 and retry is not None else None,
        )


def answer(status: int, payload: object, retry_after: str | None = None) -> dict[str, Any]:
    return {"status": status, "body": b64(json.dumps(payload).encode()), "retry_after": retry_after}


def webhook(table: str, ident: int) -> bytes:
    record = {"id": ident, "status": "pending"}
    return json.dumps({"type": "INSERT", "table": table, "schema": "public", "record": record,
                       "old_record": None}).encode()  # fmt: skip


TOKEN = "6f1c1a52-0c1e-4d0b-9f43-1f8a9b0e6d11"
THREADS = generate_dataset(4, 3).threads
ODD_THREAD = {**THREADS[0], "score": 1.0, "big": 10**30, "name": "é😀", "id": "t/1 é?"}
CLAIMED_PAGE = {"claimed": True, "reason": "claimed", "page_id": 7, "job_id": 1, "page_number": 2,
                "cursor": "c 2/é+", "page_size": 3, "claim_token": TOKEN, "attempts": 1,
                "locked_until": "2025-01-01T00:02:00+00:00"}  # fmt: skip
CLAIMED_ENTRY = {"claimed": True, "reason": "claimed", "entry_id": 9, "job_id": 1,
                 "external_id": ODD_THREAD["id"], "payload": None, "claim_token": TOKEN,
                 "attempts": 1, "locked_until": "2025-01-01T00:01:00+00:00"}  # fmt: skip
UNCLAIMED = {"claimed": False, "reason": "already done", "page_id": 7, "entry_id": 9}
RETRY = {"recorded": True, "status": "pending", "reason": "retry scheduled",
         "next_retry_at": "2025-01-01T00:00:40.5+00:00"}  # fmt: skip
DEAD = {"recorded": True, "status": "failed", "reason": "dead-lettered", "next_retry_at": None}
LOST = {"recorded": False, "status": "done", "reason": "lease lost",
        "next_retry_at": "2025-01-01T00:00:10+00:00"}  # fmt: skip
PAGE_DONE = {"completed": True, "reason": "completed", "staged": 2, "queued": 2, "next_page_id": 8}
PAGE_LOST = {"completed": False, "reason": "lease lost: page is done", "staged": 0, "queued": 0,
             "next_page_id": None}  # fmt: skip
THREAD_DONE = {"completed": True, "reason": "completed"}
THREAD_LOST = {"completed": False, "reason": "lease lost: entry is processing under another claim"}


def handler_scripts() -> Iterator[tuple[str, str, bytes, list[Row], list[dict[str, Any]]]]:
    """(name, handler, body, rows, answers) for each case."""
    page = answer(200, {"threads": [ODD_THREAD, THREADS[1]], "next_cursor": "c3"})
    last = answer(200, {"threads": [], "next_cursor": None})
    pw, pr = "page_worker", "processor"
    yield "page done", pw, webhook(PAGE, 7), [CLAIMED_PAGE, PAGE_DONE], [page]
    yield "page first", pw, webhook(PAGE, 7), [{**CLAIMED_PAGE, "cursor": None}, PAGE_DONE], [last]
    yield "page unclaimed", pw, webhook(PAGE, 7), [UNCLAIMED], []
    yield "page lease lost", pw, webhook(PAGE, 7), [CLAIMED_PAGE, PAGE_LOST], [page]
    rate = answer(429, {"error": "rate limited (injected fault)"}, "30")
    yield "page rate limited", pw, webhook(PAGE, 7), [CLAIMED_PAGE, RETRY], [rate]
    error = answer(500, {"error": "internal server error (injected fault)"})
    yield "page dead letter", pw, webhook(PAGE, 7), [CLAIMED_PAGE, DEAD], [error]
    timeout = answer(504, {"error": "timed out after 10s"})
    yield "page fail lost", pw, webhook(PAGE, 7), [CLAIMED_PAGE, LOST], [timeout]
    garbage = {"status": 200, "body": b64(b"{oops"), "retry_after": None}
    yield "page malformed answer", pw, webhook(PAGE, 7), [CLAIMED_PAGE, RETRY], [garbage]
    yield "page bad body", pw, b'{"type": "INSERT"}', [], []
    yield "page big id", pw, webhook(PAGE, MAX_ROW_ID), [UNCLAIMED], []
    thread = answer(200, ODD_THREAD)
    yield "thread done", pr, webhook(ENTRY, 9), [CLAIMED_ENTRY, THREAD_DONE], [thread]
    yield "thread unclaimed", pr, webhook(ENTRY, 9), [UNCLAIMED], []
    yield "thread lease lost", pr, webhook(ENTRY, 9), [CLAIMED_ENTRY, THREAD_LOST], [thread]
    missing = answer(404, {"error": "no thread 't/1 é?'"})
    yield "thread missing", pr, webhook(ENTRY, 9), [CLAIMED_ENTRY, RETRY], [missing]
    rate = answer(429, {"error": "rate limited (injected fault)"}, "2.5")
    yield "thread rate limited", pr, webhook(ENTRY, 9), [CLAIMED_ENTRY, DEAD], [rate]
    bad = answer(200, {**ODD_THREAD, "subject": None})
    yield "thread no subject", pr, webhook(ENTRY, 9), [CLAIMED_ENTRY, RETRY], [bad]
    mixed = answer(200, {**ODD_THREAD, "participants": ["a", 1]})
    yield "thread mixed participants", pr, webhook(ENTRY, 9), [CLAIMED_ENTRY, LOST], [mixed]
    yield "thread bad body", pr, b"[]", [], []


def handler_cases() -> Iterator[dict[str, Any]]:
    handlers: dict[str, Callable[[Context, bytes], Reply]] = {
        "page_worker": page_worker.handle,
        "processor": processor.handle,
    }
    for name, handler, body, rows, answers in handler_scripts():
        calls: list[str] = []
        ctx = Context(db=ScriptedDb(rows, calls), api=ScriptedApi(answers, calls))
        reply = handlers[handler](ctx, body)
        yield {"name": name, "handler": handler, "body": b64(body), "rows": rows,
               "answers": answers, "calls": calls, "status": reply.status,
               "reply": json.dumps(dict(reply.body), sort_keys=True)}  # fmt: skip


def test_handlers_match_python(tmp_path: Path) -> None:
    cases = list(handler_cases())
    assert {c["status"] for c in cases} == {200, 400, 500, 503}, "a reply kind is not covered"
    run_deno_test(tmp_path, "handlers_test.ts", handlers=cases)
