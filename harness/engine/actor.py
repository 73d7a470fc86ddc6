"""One actor: a thread running a handler unchanged, whose every statement and API call is a step.

The actor thread and the scheduler hand off through a per-actor Event (the grant) and one shared
Condition (the actor's state changed); a step runs only after the scheduler grants it, and the
scheduler — not the actor — turns each finished step into a history event, so the order of
events is the order the scheduler observed, which a replay reproduces.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from harness.engine import pool
from harness.engine.clock import VirtualClock
from harness.engine.errors import ActorCrashed
from harness.engine.faults import ActorRule
from harness.engine.threads import run_on_thread
from harness.lost_connection import recorded_error
from harness.sql import PAUSE
from harness.supabase.postgrest import REQUEST, RestRequest, caller_for
from threadsync.pipeline import Context, Params, Reply, Row
from threadsync.provider import ProviderError, Thread, ThreadPage, ThreadsProvider
from threadsync.queries import load_named

T = TypeVar("T")
State = Literal["waiting", "running", "done"]
StepKind = Literal["invoke", "statement", "begin", "commit", "rollback", "api"]
ActorFn = Callable[[Context], "Reply | None"]

EARLY_SQL = (
    "SELECT id, url, body FROM net.http_request_queue "
    "WHERE txid = txid_current_if_assigned() ORDER BY id"
)
_MAX_ROWS = 5
_SET_CLOCK = b"SELECT set_config('threadsync.now', %s, false)"
QUEUE: dict[str, bytes] = {
    name: sql.encode()
    for name, sql in load_named(Path(__file__).parents[1] / "sql" / "queue.sql").items()
}


def _not_pipeline_echo(record: logging.LogRecord) -> bool:
    # A request whose connection died raises to its handler; psycopg also logs the same loss again
    # while closing the request's pipeline, which would only add noise to the CLI's output.
    return not str(record.msg).startswith("error ignored terminating")


logging.getLogger("psycopg").addFilter(_not_pipeline_echo)
_MAX_TEXT = 160


@dataclass(frozen=True)
class Step:
    """What an actor asks to do next; `on_server` steps can block on a lock."""

    kind: StepKind
    text: str = ""
    params: Any = None
    # How the history shows the rows a step returned (a PostgREST request returns its answer's
    # JSON text; its history shows the rows in it, as a Python handler's statement's).
    show_rows: Callable[[list[Any]], list[Any]] | None = field(default=None, compare=False)

    @property
    def on_server(self) -> bool:
        return self.kind in ("statement", "begin", "commit", "rollback")


@dataclass
class Actor:
    """An actor's identity and the state the scheduler and its thread share (under `cond`)."""

    id: str
    role: str
    fn: ActorFn
    cond: threading.Condition
    clock: VirtualClock
    dsn: str | None
    api: ThreadsProvider | None = None
    faults: tuple[ActorRule, ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict)
    detect_early: bool = False
    gated: bool = True
    # Shared state, changed under `cond`.
    state: State = "waiting"
    pending: Step | None = None
    result: dict[str, Any] | None = None
    steps: int = -1  # index of the pending/last step; invoke is -1, the first real step is 0
    outcome: tuple[str, Any] | None = (
        None  # ("reply", Reply|None) / ("exception", exc) / ("crashed", None)
    )
    # Scheduler-owned.
    blocked_by: tuple[str, ...] | None = None
    not_before: float = 0.0
    caller_gone: bool = False
    command: str | None = None
    conn: psycopg.Connection[Any] | None = None
    pid: int | None = None
    in_txn: bool = False
    # Set by the scheduler before it grants a step a Pause rule aims at: '<point>:<key>' (see
    # harness/sql/pause.sql); the step's statement takes it and arms itself with it.
    pause_arm: str | None = None
    _go: threading.Event = field(default_factory=threading.Event)
    _conn_clock: int = -1
    _clock_set_in_txn: bool = False
    _started: bool = False
    _ended: threading.Event = field(default_factory=threading.Event)  # _main returned
    _implicit_txn: bool = False
    early_found: list[dict[str, Any]] = field(default_factory=list)
    # Whether the last step may have committed requests into pg_net's queue (set before the step
    # is handed back): the deliverer reads the queue only after such a step, since nothing else
    # adds to it. A step that committed is taken to have queued some unless its transaction
    # counted its own inserts into the queue (`queue_oid`, see harness/sql/queue.sql).
    committed: bool = False
    queue_oid: int | None = None
    # The queue inserts counted at the open transaction's BEGIN (None: not counted), and whether
    # the step's commit is known to have queued nothing.
    _txn_mark: int | None = None
    _queued_nothing: bool = False
    # Free mode (ungated): called on the actor's thread before each step (may answer "crash")
    # and after it (to record the event at once).
    before_step: Callable[[Actor], str | None] | None = None
    on_result: Callable[[Actor, dict[str, Any]], None] | None = None

    # --- lifecycle (scheduler side) ------------------------------------------------------------

    def connect(self) -> None:
        """Take a backend from the database's pool (in a new session's state)."""
        if self.dsn is None:
            return
        self.conn = pool.acquire(self.dsn)
        self.pid = self.conn.info.backend_pid
        self._txn_mark = None

    def run_here(self) -> None:
        """Free mode: run the handler on the calling thread, steps not gated."""
        self.gated = False
        self.state = "running"
        self._main()

    def start(self) -> None:
        """Start the handler on a thread of its own (a kept one, see harness.engine.threads); it
        asks for its `invoke` grant before running the handler."""
        self.pending = Step("invoke", self.role)
        self.state = "waiting"
        self._started = True
        run_on_thread(self._main)

    def grant(self, command: str = "go") -> None:
        with self.cond:
            self.command = command
            self.state = "running"
            self.result = None
        self._go.set()

    def join(self, timeout: float) -> None:
        if self._started:
            self._ended.wait(timeout)

    # --- the thread ----------------------------------------------------------------------------

    def _main(self) -> None:
        outcome: tuple[str, Any]
        try:
            self._wait_grant()
            db = InstrumentedDatabase(self)
            api = GatedAPI(self, self.api) if self.api is not None else None
            outcome = ("reply", self.fn(Context(db=db, api=api)))
        except ActorCrashed:
            outcome = ("crashed", None)
        except BaseException as exc:  # the handler's failure is the actor's reply, not ours
            outcome = ("exception", exc)
        if outcome[0] == "crashed":
            self._drop_connection()
        elif self.conn is not None and self.dsn is not None:
            # The pool ends the session's state, or closes a connection that is not sound.
            conn, self.conn = self.conn, None
            pool.release(self.dsn, conn)
        with self.cond:
            self.outcome = outcome
            self.pending = None
            self.state = "done"
            self.cond.notify_all()
        self._ended.set()

    def _wait_grant(self) -> None:
        if not self.gated:
            command = self.before_step(self) if self.before_step is not None else None
        else:
            self._go.wait()
            self._go.clear()
            command, self.command = self.command, None
        if command == "crash":
            raise ActorCrashed(f"actor {self.id} crashed before step {self.steps}")

    def _drop_connection(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None or self.dsn is None:
            return
        # Abrupt: no Terminate message, just the socket going away, as a killed instance's; a
        # crashed instance's backend never serves another actor.
        pool.drop(self.dsn, conn)

    def step(self, step: Step, execute: Callable[[], T]) -> T:
        """Ask for a grant, run `execute` once granted, leave the result for the scheduler."""
        with self.cond:
            self.steps += 1
            self.pending = step
            self.state = "waiting"
            self.cond.notify_all()
        self._wait_grant()
        t0 = time.perf_counter()
        self._queued_nothing = False
        detail: dict[str, Any] = {"sql" if step.on_server else "call": step.text}
        if step.params is not None:
            detail["params"] = jsonable(step.params)
        try:
            value = execute()
        except psycopg.Error as exc:
            # A failed statement is rolled back, unless the connection died on the way: then a
            # COMMIT may have reached the server before the answer was lost.
            self.committed = step.on_server and self._connection_unknown()
            detail.update(
                outcome="error", sqlstate=exc.sqlstate, error=_first_line(recorded_error(exc))
            )
            self._finish(detail, t0)
            raise
        except ProviderError as exc:
            self.committed = False  # an API call, no statement
            detail.update(outcome="error", status=exc.status, error=str(exc))
            if exc.retry_after is not None:  # what the API asked, whatever the handler does next
                detail["retry_after"] = exc.retry_after
            self._finish(detail, t0)
            raise
        except BaseException:
            self.committed = step.on_server  # not a statement's own failure: assume the worst
            raise
        # Ended outside a transaction: an autocommit statement, a request's own transaction or a
        # COMMIT (a rollback never commits). Inside one, nothing is committed yet.
        self.committed = (
            step.on_server
            and step.kind != "rollback"
            and (self._connection_unknown() or self._outside_transaction())
            and not self._queued_nothing
        )
        detail["outcome"] = "ok"
        if isinstance(value, list):
            shown = step.show_rows(value) if step.show_rows is not None else value
            detail["rows"] = jsonable(shown[:_MAX_ROWS])
            if len(shown) > _MAX_ROWS:
                detail["row_count"] = len(shown)
        elif isinstance(value, ThreadPage):
            detail["threads"] = [t.get("id") for t in value.threads]
            detail["next_cursor"] = value.next_cursor
        elif isinstance(value, Mapping) and step.kind == "api":
            detail["thread"] = value.get("id")
        self._finish(detail, t0)
        return value

    def _connection_unknown(self) -> bool:
        conn = self.conn
        return conn is None or conn.closed or conn.broken

    def _outside_transaction(self) -> bool:
        assert self.conn is not None
        return self.conn.info.transaction_status == TransactionStatus.IDLE

    def _finish(self, detail: dict[str, Any], t0: float) -> None:
        detail["wall_ms"] = round((time.perf_counter() - t0) * 1000, 3)
        if self.early_found:
            detail["early"] = self.early_found
            self.early_found = []
        self.result = detail
        if self.on_result is not None:
            self.on_result(self, detail)

    # --- statements (run on the actor thread, inside a granted step) ---------------------------

    def execute(self, sql: str, params: Params | None) -> list[Row]:
        conn = self._connection()
        self._sync_clock(conn)
        arm, self.pause_arm = self.pause_arm, None
        local = self.in_txn or self._implicit_txn
        with conn.cursor(row_factory=dict_row) as cur:
            if arm is not None:
                cur.execute(PAUSE["arm_local" if local else "arm_session"], {"arm": arm})
            try:
                # Handlers' SQL comes from .sql files, never from user data.
                cur.execute(sql.encode(), params)
                rows = cur.fetchall() if cur.description else []
            finally:
                if arm is not None and not local:
                    # A lost connection has nothing left to disarm.
                    with suppress(psycopg.Error):
                        cur.execute(PAUSE["disarm_session"])
            if arm is not None and local:
                # The rest of the transaction runs unarmed; a failed statement needs nothing, its
                # transaction is over.
                cur.execute(PAUSE["disarm_local"])
            if self.detect_early and (self.in_txn or self._implicit_txn):
                # The queue is pg_net's, not the caller's: look with the session's rights, then
                # become the caller again for whatever the transaction does next.
                caller = caller_for(self.role)
                if caller is not None:
                    cur.execute(REQUEST["leave_role"])
                cur.execute(EARLY_SQL.encode())
                self.early_found = cur.fetchall()
                if caller is not None:
                    cur.execute(REQUEST[caller])
        return rows

    def begin_request(self) -> list[Row]:
        """BEGIN as Supabase's caller: PostgREST's role and timeouts, or pg_cron's job owner."""
        conn = self._connection()
        caller = caller_for(self.role)
        with conn.pipeline():
            conn.execute(b"BEGIN")
            before = self._count_queue(conn)
            if caller is not None:
                conn.execute(REQUEST[caller])
        self._txn_mark = _inserted(before)
        return []

    def request(self, sql: str, params: Params | None) -> list[Row]:
        """One autocommit statement the way PostgREST runs an RPC: its own transaction, as the
        caller's role, rolled back if it fails. The clock is set first, outside the transaction.
        BEGIN, the caller's settings, the statement and COMMIT go out in one pipeline (one round
        trip); the statement still blocks, and is seen blocked, like any other."""
        conn = self._connection()
        caller = caller_for(self.role)
        assert caller is not None
        cur = conn.cursor(row_factory=dict_row)
        arm, self.pause_arm = self.pause_arm, None
        try:
            with conn.pipeline():
                version = self._send_clock(conn)
                conn.execute(b"BEGIN")
                before = self._count_queue(conn)
                conn.execute(REQUEST[caller])
                if arm is not None:
                    # Transaction-local: it ends with the request's transaction.
                    conn.execute(PAUSE["arm_local"], {"arm": arm})
                # Handlers' SQL comes from .sql files, never from user data.
                cur.execute(sql.encode(), params)
                after = self._count_queue(conn)
                conn.execute(b"COMMIT")
            self._conn_clock = version
            self._queued_nothing = _same_count(_inserted(before), after)
            return cur.fetchall() if cur.description else []
        except BaseException:
            with suppress(psycopg.Error):
                conn.execute(b"ROLLBACK")
            raise
        finally:
            cur.close()

    def rest_request(self, request: RestRequest) -> list[Row]:
        """A request as PostgREST runs it: BEGIN, the JWT's role and settings (`preamble`), the
        statement, then COMMIT if `keep(rows)` else ROLLBACK (PostgREST rolls back whatever it
        answers with an error). With early deliveries on, a kept transaction that queued
        requests stays open, and its COMMIT is a step of its own."""
        conn = self._connection()
        cur = conn.cursor(row_factory=dict_row)
        arm, self.pause_arm = self.pause_arm, None
        try:
            with conn.pipeline():
                version = self._send_clock(conn)
                conn.execute(b"BEGIN")
                before = self._count_queue(conn)
                conn.execute(request.preamble, request.preamble_params)
                if arm is not None:
                    # Transaction-local: it ends with the request's transaction.
                    conn.execute(PAUSE["arm_local"], {"arm": arm})
                # From the PostgREST translator: identifiers checked against the catalog, every
                # value bound.
                cur.execute(request.sql.encode(), request.params)
            self._conn_clock = version
            self._txn_mark = _inserted(before)
            rows = cur.fetchall() if cur.description else []
            keep = request.keep(rows)
            if keep and self.detect_early:
                cur.execute(REQUEST["leave_role"])
                cur.execute(EARLY_SQL.encode())
                self.early_found = cur.fetchall()
                if self.early_found:
                    self._implicit_txn = True
                    return rows
            self.execute_control("COMMIT" if keep else "ROLLBACK")
            return rows
        except BaseException:
            self._txn_mark = None
            with suppress(psycopg.Error):
                conn.execute(b"ROLLBACK")
            raise
        finally:
            cur.close()

    def execute_control(self, sql: str) -> list[Row]:
        conn = self._connection()
        mark, self._txn_mark = self._txn_mark, None
        if sql == "COMMIT" and mark is not None:
            # Counted right before the COMMIT, in its round trip: what the whole transaction queued.
            with conn.pipeline():
                after = self._count_queue(conn)
                conn.execute(b"COMMIT")
            self._queued_nothing = _same_count(mark, after)
        else:
            conn.execute(sql.encode())
        if sql == "ROLLBACK" and self._clock_set_in_txn:
            self._conn_clock = -1  # SET is transactional: the rollback undid it
        if sql in ("COMMIT", "ROLLBACK"):
            self._clock_set_in_txn = False
        return []

    def _count_queue(self, conn: psycopg.Connection[Any]) -> psycopg.Cursor[Any] | None:
        """Inside a transaction, in a pipeline: count this backend's inserts into pg_net's queue
        (read the cursor once the pipeline went through; None: the queue is not counted)."""
        if self.queue_oid is None:
            return None
        cur = conn.cursor()
        cur.execute(QUEUE["queue_inserts"], {"queue": self.queue_oid})
        return cur

    def _connection(self) -> psycopg.Connection[Any]:
        if self.conn is None:
            if self.dsn is None:
                raise RuntimeError(f"actor {self.id} has no database")
            self.connect()
        assert self.conn is not None
        return self.conn

    def _sync_clock(self, conn: psycopg.Connection[Any]) -> None:
        if self._conn_clock == self.clock.version:
            return
        conn.execute(_SET_CLOCK, (self.clock.sql_value(),))
        self._conn_clock = self.clock.version
        if self.in_txn or self._implicit_txn:
            self._clock_set_in_txn = True

    def _send_clock(self, conn: psycopg.Connection[Any]) -> int:
        """In a pipeline, before a request's BEGIN: set the session's clock if it is behind (one
        round trip less than `_sync_clock`). The caller records the version returned once the
        pipeline went through (a failed one may not have set it: it is sent again)."""
        version = self.clock.version
        if self._conn_clock != version:
            conn.execute(_SET_CLOCK, (self.clock.sql_value(),))
        return version


class InstrumentedDatabase:
    """The `Database` a handler gets: each statement and transaction boundary is a granted step."""

    def __init__(self, actor: Actor) -> None:
        self._actor = actor

    @property
    def dsn(self) -> str | None:
        return self._actor.dsn

    @property
    def clock(self) -> VirtualClock:
        return self._actor.clock

    def rest_request(self, request: RestRequest) -> list[Row]:
        """One PostgREST request (an Edge Function's RPC or table call): one step."""
        a = self._actor
        rows = a.step(
            Step("statement", request.text, request.shown_params, request.show_rows),
            lambda: a.rest_request(request),
        )
        if a._implicit_txn:
            a._implicit_txn = False
            a.step(Step("commit", "COMMIT -- implicit"), lambda: a.execute_control("COMMIT"))
        return rows

    def query(self, sql: str, params: Params | None = None) -> list[Row]:
        a = self._actor
        if a.in_txn:
            return a.step(Step("statement", sql, params), lambda: a.execute(sql, params))
        if not a.detect_early:
            run = a.request if caller_for(a.role) is not None else a.execute
            return a.step(Step("statement", sql, params), lambda: run(sql, params))

        # Early deliveries need the statement's transaction to stay open after it returns: run it
        # as BEGIN; stmt; (look for queued requests); and COMMIT as a step of its own.
        def implicit() -> list[Row]:
            a._sync_clock(a._connection())
            a.begin_request()
            a._implicit_txn = True
            try:
                rows = a.execute(sql, params)
            except BaseException:
                a._implicit_txn = False
                with suppress(psycopg.Error):
                    a.execute_control("ROLLBACK")
                raise
            if not a.early_found:
                a._implicit_txn = False
                a.execute_control("COMMIT")
            return rows

        rows = a.step(Step("statement", sql, params), implicit)
        if a._implicit_txn:
            a._implicit_txn = False
            a.step(Step("commit", "COMMIT -- implicit"), lambda: a.execute_control("COMMIT"))
        return rows

    @contextmanager
    def transaction(self) -> Iterator[None]:
        a = self._actor
        if a.in_txn:
            raise RuntimeError(f"actor {a.id}: nested transaction() is not supported")
        a.step(Step("begin", "BEGIN"), a.begin_request)
        a.in_txn = True
        try:
            yield
        except ActorCrashed:
            raise
        except BaseException:
            a.in_txn = False
            # If the connection is gone the server rolled back; the original error matters more.
            with contextlib.suppress(psycopg.Error):
                a.step(Step("rollback", "ROLLBACK"), lambda: a.execute_control("ROLLBACK"))
            raise
        else:
            a.in_txn = False
            a.step(Step("commit", "COMMIT"), lambda: a.execute_control("COMMIT"))
        finally:
            a.in_txn = False


class GatedAPI:
    """The threads API a handler gets: each call is a granted step."""

    def __init__(self, actor: Actor, api: ThreadsProvider) -> None:
        self._actor = actor
        self._api = api

    def fetch_page(self, cursor: str | None, page_size: int) -> ThreadPage:
        text = f"fetch_page(cursor={cursor!r}, page_size={page_size})"
        return self._actor.step(Step("api", text), lambda: self._api.fetch_page(cursor, page_size))

    def fetch_thread(self, thread_id: str) -> Thread:
        text = f"fetch_thread({thread_id!r})"
        return self._actor.step(Step("api", text), lambda: self._api.fetch_thread(thread_id))


def jsonable(value: Any) -> Any:
    """A JSON-safe copy, long strings shortened (histories stay small and diffable)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    if len(text) > _MAX_TEXT:
        return f"{text[:_MAX_TEXT]}...({len(text)} chars)"
    return text


def _inserted(cur: psycopg.Cursor[Any] | None) -> int | None:
    """A queue count's reading, or None when there is none or the server did not count."""
    if cur is None:
        return None
    row = cur.fetchone()
    cur.close()
    return int(row[0]) if row is not None and row[1] else None


def _same_count(before: int | None, after: psycopg.Cursor[Any] | None) -> bool:
    """Whether two readings inside one transaction show it queued nothing."""
    later = _inserted(after)
    return before is not None and later is not None and later == before


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return text.strip()


def body_text(body: Any) -> str:
    return body if isinstance(body, str) else json.dumps(body)


__all__ = [
    "Actor",
    "ActorFn",
    "GatedAPI",
    "InstrumentedDatabase",
    "Step",
    "jsonable",
    "recorded_error",
]
