"""`json.loads` with one nesting limit on every Python version (the TypeScript port's pyjson.ts
has the same limit, so a body is refused with the same words by both).

`json.loads` raises RecursionError where its own recursion runs out, and that depends on the
version and on the caller's stack: about 1,000 levels on 3.11, between 1,000 and 5,000 on 3.12,
more than 5,000 on 3.13. Here the container that opens level MAX_DEPTH + 1 raises it, unless
the document is malformed before that point, in which case that error is raised, as json does.
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


def loads(body: str | bytes | bytearray) -> Any:
    """`json.loads(body)`, with RecursionError at the first container deeper than MAX_DEPTH."""
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
