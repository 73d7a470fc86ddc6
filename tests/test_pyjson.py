"""threadsync.pyjson: json.loads with one nesting limit, whatever the Python version.

The oracle is json's own pure-Python scanner with a depth counter in its array and object
parsers: it goes in exactly where json does, so it says whether the container that passes the
limit or a syntax error comes first.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadsync import pyjson
from threadsync.pyjson import MAX_DEPTH


class _TooDeep(Exception):
    pass


def _counting_decoder() -> json.JSONDecoder:
    decoder = json.JSONDecoder()
    depth = 0

    def counted(parse: Callable[..., Any]) -> Callable[..., Any]:
        def parse_counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal depth
            depth += 1
            try:
                if depth > MAX_DEPTH:
                    raise _TooDeep
                return parse(*args, **kwargs)
            finally:
                depth -= 1

        return parse_counted

    decoder.parse_array = counted(json.decoder.JSONArray)  # type: ignore[attr-defined]
    decoder.parse_object = counted(json.decoder.JSONObject)  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    return decoder


@contextmanager
def _deep_python_stack() -> Iterator[None]:
    # The pure-Python scanner takes a few frames per level.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20 * MAX_DEPTH))
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def expected(text: str) -> tuple[str, Any]:
    """What loads(text) must give: ('value', v), ('too deep', None) or ('error', message)."""
    if text.startswith("\ufeff"):
        return "error", "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"
    with _deep_python_stack():
        try:
            return "value", _counting_decoder().decode(text)
        except _TooDeep:
            return "too deep", None
        except json.JSONDecodeError as exc:
            return "error", str(_worded_as_on_311(exc))


def _worded_as_on_311(exc: json.JSONDecodeError) -> json.JSONDecodeError:
    # Python 3.13 names a trailing comma at the comma; 3.11 names what it expected after it.
    kind = {
        "array": "Expecting value",
        "object": "Expecting property name enclosed in double quotes",
    }
    if not exc.msg.startswith("Illegal trailing comma before end of "):
        return exc
    after = exc.doc[exc.pos + 1 :]
    return json.JSONDecodeError(
        kind[exc.msg.rsplit(" ", 1)[1]], exc.doc, exc.pos + 1 + len(after) - len(after.lstrip())
    )


def outcome(text: str) -> tuple[str, Any]:
    try:
        return "value", pyjson.loads(text)
    except RecursionError:
        return "too deep", None
    except json.JSONDecodeError as exc:
        return "error", str(exc)


PIECES = ["[", "]", "{", "}", '"', "\\", ",", ":", "1", " ", "a", '"a"', "[" * MAX_DEPTH]


@settings(max_examples=600, derandomize=True, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=12))
def test_agrees_with_json_going_in_where_json_does(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert outcome(text) == expected(text)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("[" * MAX_DEPTH + "]" * MAX_DEPTH, "value"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "too deep"),
        ('{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1), "too deep"),
        ("[1 2" + "[" * (MAX_DEPTH + 1), "error"),  # json fails before it goes that deep
        ("[" * MAX_DEPTH + "1[" + "]" * (MAX_DEPTH + 1), "error"),  # no value expected there
        ('["' + "[" * (2 * MAX_DEPTH) + '"]', "value"),  # brackets in a string nest nothing
        ('["\\"' + "[" * (2 * MAX_DEPTH) + '"]', "value"),
        ("[" * 5000 + "1" + "]" * 5000, "too deep"),  # json itself parses this on 3.13
    ],
)
def test_the_limit_is_the_same_on_every_python(text: str, want: str) -> None:
    assert outcome(text) == expected(text)
    assert outcome(text)[0] == want


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1,]", "Expecting value: line 1 column 4 (char 3)"),
        ("[1,\n ]", "Expecting value: line 2 column 2 (char 5)"),
        (
            '{"a":1 , }',
            "Expecting property name enclosed in double quotes: line 1 column 10 (char 9)",
        ),
        (
            "[" * (MAX_DEPTH - 1) + "[1,]",
            f"Expecting value: line 1 column {MAX_DEPTH + 3} (char {MAX_DEPTH + 2})",
        ),
    ],
)
def test_a_trailing_comma_is_worded_as_on_311(text: str, message: str) -> None:
    with pytest.raises(json.JSONDecodeError) as caught:
        pyjson.loads(text)
    assert str(caught.value) == message


def _error(loads: Callable[[bytes], Any], body: bytes) -> str:
    with pytest.raises(json.JSONDecodeError) as caught:
        loads(body)
    return str(caught.value)


def test_bytes_are_read_as_json_reads_them() -> None:
    deep = "[" * (MAX_DEPTH + 1)
    for encoding in ("utf-8", "utf-8-sig", "utf-16", "utf-32"):
        with pytest.raises(RecursionError):
            pyjson.loads(deep.encode(encoding))
    # json.loads looks for a byte order mark in a str only: bytes with two keep the second.
    twice = b"\xef\xbb\xbf\xef\xbb\xbf{}"
    assert _error(pyjson.loads, twice) == _error(json.loads, twice)
    with pytest.raises(UnicodeDecodeError):
        pyjson.loads(b"[" * (MAX_DEPTH + 1) + b"\xff")
    with pytest.raises(TypeError):
        pyjson.loads(42)  # type: ignore[arg-type]
