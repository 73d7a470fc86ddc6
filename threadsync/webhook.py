"""Reads the id of the row a Database Webhook fired for, refusing any body that is not one."""

from __future__ import annotations

import json
from typing import Any


class BadWebhook(ValueError):
    """The body is not a Database Webhook for the expected table; the message says what is wrong."""


def row_id(body: str | bytes, table: str) -> int:
    """The `record.id` of an INSERT webhook on `table`, or BadWebhook naming the first problem."""
    try:
        payload: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadWebhook(f"body is not JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise BadWebhook(f"body must be a JSON object, got {type(payload).__name__}")
    kind = payload.get("type")
    if kind != "INSERT":
        raise BadWebhook(f"expected a webhook of type 'INSERT', got type {kind!r}")
    got_table = payload.get("table")
    if got_table != table:
        raise BadWebhook(f"expected a webhook for table {table!r}, got table {got_table!r}")
    if "record" not in payload:
        raise BadWebhook("body has no 'record'")
    record = payload["record"]
    if not isinstance(record, dict):
        raise BadWebhook(f"'record' must be an object, got {type(record).__name__}")
    if "id" not in record:
        raise BadWebhook("'record' has no 'id'")
    ident = record["id"]
    # bool is an int subclass in Python; true is not a row id.
    if isinstance(ident, bool) or not isinstance(ident, int) or ident < 1:
        raise BadWebhook(f"'record.id' must be a positive integer, got {ident!r}")
    return ident
