"""`json.loads` that behaves the same on every Python version, as the TypeScript port's
pyjson.ts does, so that a body is refused with the same words by all of them.

Two things differ between versions, and are made the same here. One is the nesting limit.

`json.loads` raises RecursionError where its own recursion runs out, and that depends on the
version and on the caller's stack: about 1,000 levels on 3.11, between 1,000 and 5,000 on 3.12,
more than 5,000 on 3.13. Here the container that opens level MAX_DEPTH + 1 raises it, unless
the document is malformed before that point, in which case that error is raised, as json does.
The other is the words for a trailing comma (`[1,]`): 3.13 says "Illegal trailing comma", at the
comma; here, as on 3.11 and 3.12, it is the value or property name expected after it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

# Far below any version's own limit, so json never reaches its own; a webhook body is 2 deep.
MAX_DEPTH = 500
TOO_DEEP = "maximum recursion depth exceeded while decoding a JSON document"

# A string (unterminated: to the end of the text), or a bracket.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)
_DECODER = json.JSONDecoder()
_TRAILING_COMMA = {
    "Illegal trailing comma before end of array": "Expecting value",
    "Illegal trailing comma before end of object": (
        "Expecting property name enclosed in double quotes"
    ),
}
_WHITESPACE = " \t\n\r"


def loads(body: str | bytes | bytearray) -> Any:
    """`json.loads(body)`, with RecursionError at the first container deeper than MAX_DEPTH and
    3.11's words for a trailing comma."""
    decode: Callable[[str], Any]
    if isinstance(body, (bytes, bytearray)):
        # What json.loads does with bytes, so that offsets below are offsets into its text; it
        # looks for a byte order mark only in a str.
        text = body.decode(json.detect_encoding(body), "surrogatepass")
        decode = _DECODER.decode
    elif isinstance(body, str):
        text, decode = body, json.loads
    else:
        return json.loads(body)  # json's own TypeError
    try:
        return _bounded(decode, text)
    except json.JSONDecodeError as exc:
        worded = _as_before_313(exc)
        if worded is exc:
            raise
        raise worded from None


def _bounded(decode: Callable[[str], Any], text: str) -> Any:
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return decode(text)
    too_deep = _first_too_deep(text)
    if too_deep is None:
        return decode(text)
    try:
        decode(text[:too_deep])
    except json.JSONDecodeError as exc:
        # Everything before the deep container is what json would have read first: an error
        # there is json's own error. At the container itself, only a place where json expects a
        # value means it would have gone in.
        if exc.pos < too_deep or not exc.msg.startswith("Expecting value"):
            raise
        raise RecursionError(TOO_DEEP) from None
    return decode(text)  # not reached: the text before the container is never complete


def _as_before_313(exc: json.JSONDecodeError) -> json.JSONDecodeError:
    """3.13's trailing-comma error as 3.11 and 3.12 word and place it; any other as it is."""
    expected = _TRAILING_COMMA.get(exc.msg)
    if expected is None:
        return exc
    pos = exc.pos + 1
    while pos < len(exc.doc) and exc.doc[pos] in _WHITESPACE:
        pos += 1
    return json.JSONDecodeError(expected, exc.doc, pos)


def _first_too_deep(text: str) -> int | None:
    """The offset of the first bracket, outside strings, that opens level MAX_DEPTH + 1."""
    depth = 0
    for match in _TOKEN.finditer(text):
        char = text[match.start()]
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return match.start()
        elif char in "]}":
            depth -= 1
    return None


__all__ = ["MAX_DEPTH", "TOO_DEEP", "loads"]
