"""The values that pass between the emulation and the engine that runs its statements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Action = Literal["read", "call", "insert", "update", "delete"]


@dataclass(frozen=True)
class Auth:
    """Who the request runs as: the JWT's role and its claims as JSON (request.jwt.claims)."""

    role: str
    claims_json: str


@dataclass(frozen=True)
class Shape:
    """What `answer` needs to know of the request to turn the statement's row into a reply."""

    action: Action
    single: bool  # Accept: application/vnd.pgrst.object+json: exactly one row, as an object
    head: bool  # HEAD: no body
    representation: bool  # a write returns its rows (Prefer: return=representation)
    void: bool  # the function returns void: 204
    merge: bool  # resolution=merge-duplicates: 201 only when some row was inserted
    count: bool  # Prefer: count=...: the total goes into Content-Range
    offset: int
    prefer_applied: str | None  # the Preference-Applied header
    read_only: bool  # PostgREST runs this request in a read-only transaction


@dataclass(frozen=True)
class Statement:
    """One SQL statement with `%(name)s` placeholders and its parameters, ready to run (after
    PREAMBLE with `preamble_params`) in the request's transaction; it returns one row."""

    sql: str
    params: dict[str, Any]
    auth: Auth
    shape: Shape

    @property
    def preamble_params(self) -> dict[str, str]:
        return {
            "role": self.auth.role,
            "claims": self.auth.claims_json,
            "read_only": "on" if self.shape.read_only else "off",
        }


@dataclass(frozen=True)
class Answer:
    """An HTTP reply. Commit the request's transaction only when `ok` (PostgREST rolls back
    whatever it answers with an error, e.g. a 406 for .single() on 2 rows)."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return self.status < 400
