"""Reads the id of the row a Database Webhook fired for, refusing any body that is not one."""

from __future__ import annotations

from typing import Any

from threadsync import pyjson

MAX_ROW_ID = 2**63 - 1  # row ids are PostgreSQL bigint
SHOWN = 80  # characters of an offending value quoted back in an error


class BadWebhook(ValueError):
    """The body is not a Database Webhook for the expected table; the message says what is wrong."""


def row_id(body: str | bytes, table: str) -> int:
    """The `record.id` of an INSERT webhook on `table`, or BadWebhook naming the first problem."""
    try:
        payload: Any = pyjson.loads(body)
    except RecursionError:
        raise BadWebhook("body is JSON nested too deeply to be a webhook") from None
    except (ValueError, UnicodeDecodeError, TypeError) as exc:
        # ValueError covers malformed JSON and integers too long to parse.
        raise BadWebhook(f"body is not JSON ({_short(str(exc))})") from None
    if not isinstance(payload, dict):
        raise BadWebhook(f"body must be a JSON object, got {type(payload).__name__}")
    kind = payload.get("type")
    if kind != "INSERT":
        raise BadWebhook(f"expected a webhook of type 'INSERT', got type {_short(kind)}")
    got_table = payload.get("table")
    if got_table != table:
        raise BadWebhook(f"expected a webhook for table {table!r}, got table {_short(got_table)}")
    if "record" not in payload:
        raise BadWebhook("body has no 'record'")
    record = payload["record"]
    if not isinstance(record, dict):
        raise BadWebhook(f"'record' must be an object, got {type(record).__name__}")
    if "id" not in record:
        raise BadWebhook("'record' has no 'id'")
    ident = record["id"]
    # bool is an int subclass in Python; true is not a row id.
    if isinstance(ident, bool) or not isinstance(ident, int) or not 1 <= ident <= MAX_ROW_ID:
        raise BadWebhook(
            f"'record.id' must be a positive integer up to {MAX_ROW_ID} (a bigint row id), "
            f"got {_short(ident)}"
        )
    return ident


def _short(value: object) -> str:
    """`repr(value)` for a scalar, cut short; a container is named, never printed."""
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON array"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"an integer of {len(str(abs(value)))} digits"
    shown = repr(value)
    return shown if len(shown) <= SHOWN else shown[: SHOWN - 3] + "..."
