"""A deterministic fake of the threads API: seeded datasets, cursor pages, planned faults, HTTP.

Everything here is a function of the seed and of the order of calls: no wall clock, no global
random state. Faults are decided per call by a plan (`faults_at`, `faults_for_page`, `combine`).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import random
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from threadsync.provider import ProviderError, ThreadPage

BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)
MAX_PAGE_SIZE = 1000

# Faker is slow per call, so it fills small pools and a seeded Random picks from them.
_POOL_PEOPLE = 120
_POOL_SUBJECTS = 300
_POOL_BODIES = 400


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Dataset:
    """The source threads of one run, in the order the API serves them."""

    seed: int
    threads: tuple[dict[str, Any], ...]
    by_id: Mapping[str, dict[str, Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {t["id"]: t for t in self.threads})

    def pages(self, page_size: int) -> list[list[dict[str, Any]]]:
        """The threads cut into pages as the API serves them (one empty page for no threads)."""
        if not self.threads:
            return [[]]
        return [
            list(self.threads[i : i + page_size]) for i in range(0, len(self.threads), page_size)
        ]

    def to_json(self) -> str:
        return json.dumps(self.threads, sort_keys=True, separators=(",", ":"))


Pools = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]


@functools.lru_cache(maxsize=64)
def _pools(seed: int) -> Pools:
    """The people, subjects and bodies Faker draws for `seed` (they depend on nothing else):
    drawn once per seed, since drawing them costs tens of milliseconds and an exploration's
    datasets differ in size far more often than in seed; kept on disk between commands."""
    from harness.engine import datasets  # it imports this module

    return datasets.load_or_make_pools(seed, _draw_pools)


def _draw_pools(seed: int) -> Pools:
    from faker import Faker  # a command that generates no dataset never pays its import

    fake = Faker()
    fake.seed_instance(seed)
    emails = sorted({fake.unique.email() for _ in range(_POOL_PEOPLE)})
    subjects = [fake.sentence(nb_words=6).rstrip(".") for _ in range(_POOL_SUBJECTS)]
    bodies = [fake.sentence(nb_words=12) for _ in range(_POOL_BODIES)]
    return tuple(emails), tuple(subjects), tuple(bodies)


def generate_dataset(seed: int, threads: int) -> Dataset:
    """`threads` threads, the same for the same (seed, threads): ids thr_00000, thr_00001, ..."""
    emails, subjects, bodies = _pools(seed)
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(threads):
        participants = rng.sample(emails, rng.randint(2, 4))
        t = BASE_TIME + timedelta(seconds=rng.randrange(30 * 86400))
        messages = []
        for j in range(rng.randint(1, 5)):
            if j:
                t += timedelta(seconds=rng.randrange(60, 86400))
            messages.append(
                {
                    "id": f"msg_{i:05d}_{j}",
                    "from": rng.choice(participants),
                    "sent_at": _iso(t),
                    "body": rng.choice(bodies),
                }
            )
        out.append(
            {
                "id": f"thr_{i:05d}",
                "subject": rng.choice(subjects),
                "participants": participants,
                "messages": messages,
                "updated_at": messages[-1]["sent_at"],
            }
        )
    return Dataset(seed=seed, threads=tuple(out))


@dataclass(frozen=True)
class Quirks:
    """What a real source does that a tidy one does not: `undated` threads carry no `updated_at`,
    and the listing serves `repeats` threads a second time a few positions later (a cursor over
    data that moved while the job listed it). None by default, so a plain run is as before."""

    undated: int = 0
    repeats: int = 0

    def __bool__(self) -> bool:
        return bool(self.undated or self.repeats)


NO_QUIRKS = Quirks()
REPEAT_GAP = 4  # a repeat comes back within this many positions: often on the next page


def undate(dataset: Dataset, count: int) -> Dataset:
    """`dataset` with `count` of its threads (seeded picks) stripped of `updated_at`."""
    if count <= 0 or not dataset.threads:
        return dataset
    rng = random.Random(f"undated:{dataset.seed}:{len(dataset.threads)}")
    picked = set(rng.sample(range(len(dataset.threads)), min(count, len(dataset.threads))))
    threads = []
    for i, thread in enumerate(dataset.threads):
        if i in picked:
            thread = {k: v for k, v in thread.items() if k != "updated_at"}
        threads.append(thread)
    return Dataset(seed=dataset.seed, threads=tuple(threads))


def relist(dataset: Dataset, count: int, key: str) -> Dataset:
    """The listing of `dataset` with `count` threads (seeded by `key`) served again, unchanged,
    1..REPEAT_GAP positions after their first listing."""
    threads = list(dataset.threads)
    if count <= 0 or len(threads) < 2:
        return dataset
    rng = random.Random(f"relist:{key}")
    for first in sorted(rng.sample(range(len(threads) - 1), min(count, len(threads) - 1)))[::-1]:
        threads.insert(min(len(threads), first + 1 + rng.randrange(REPEAT_GAP)), threads[first])
    return Dataset(seed=dataset.seed, threads=tuple(threads))


# --- cursors -------------------------------------------------------------------------------------


def encode_cursor(offset: int, version: int = 0) -> str:
    """An opaque cursor; one into a later source version names it (version 0's stay as they were
    before versions existed, so saved runs replay unchanged)."""
    fields = {"o": offset} if version == 0 else {"o": offset, "v": version}
    raw = json.dumps(fields, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_fields(cursor: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        fields = json.loads(raw)
        offset, version = fields["o"], fields.get("v", 0)
    except (binascii.Error, ValueError, TypeError, KeyError, AttributeError) as e:
        raise ProviderError(f"invalid cursor {cursor!r}", status=400) from e
    for value in (offset, version):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ProviderError(f"invalid cursor {cursor!r}", status=400)
    return offset, version


def decode_cursor(cursor: str) -> int:
    """The offset a cursor stands for; ProviderError 400 when it is not one of ours."""
    return _cursor_fields(cursor)[0]


def cursor_version(cursor: str) -> int:
    """The source version a cursor pins (0 for a cursor of the first version)."""
    return _cursor_fields(cursor)[1]


def page_number_of(cursor: str | None, page_size: int) -> int:
    """1 for the first page (cursor None), offset // page_size + 1 after it."""
    return 1 if cursor is None else decode_cursor(cursor) // page_size + 1


# --- faults --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiFault:
    kind: Literal["rate_limit", "server_error", "timeout"]
    retry_after: float = 30.0

    def error(self) -> ProviderError:
        if self.kind == "rate_limit":
            return ProviderError(
                "rate limited (injected fault)", status=429, retry_after=self.retry_after
            )
        if self.kind == "server_error":
            return ProviderError("internal server error (injected fault)", status=500)
        return ProviderError("timed out (injected fault)", status=None)


FETCH_PAGE, FETCH_THREAD = "fetch_page", "fetch_thread"
API_FUNCTIONS = (FETCH_PAGE, FETCH_THREAD)


@dataclass(frozen=True)
class ApiCall:
    """One call: `index` counts calls to the same `function` of one FakeThreadsAPI, from 0."""

    index: int
    cursor: str | None
    page_size: int
    function: str = FETCH_PAGE
    thread_id: str | None = None


FaultPlan = Callable[[ApiCall], "ApiFault | None"]


def faults_at(mapping: Mapping[int, ApiFault], function: str = FETCH_PAGE) -> FaultPlan:
    """Fault the calls of `function` with these indexes."""
    plan = dict(mapping)
    return lambda call: plan.get(call.index) if call.function == function else None


def faults_for_page(page: int, fault: ApiFault, *, times: int = 1) -> FaultPlan:
    """Fault the first `times` calls for page number `page` (1-based; see page_number_of)."""
    lock = threading.Lock()
    seen = 0

    def plan(call: ApiCall) -> ApiFault | None:
        nonlocal seen
        if call.function != FETCH_PAGE:
            return None
        try:
            number = page_number_of(call.cursor, call.page_size)
        except ProviderError:
            return None
        with lock:
            if number != page or seen >= times:
                return None
            seen += 1
            return fault

    return plan


faults_for_cursor = faults_for_page


def combine(*plans: FaultPlan) -> FaultPlan:
    """The first plan's fault that is not None (later plans are not consulted for that call)."""

    def plan(call: ApiCall) -> ApiFault | None:
        for p in plans:
            fault = p(call)
            if fault is not None:
                return fault
        return None

    return plan


# --- the API -------------------------------------------------------------------------------------


class FakeThreadsAPI:
    """A ThreadsProvider serving a Dataset, with faults from a plan; safe to call from threads.

    With `versions` (the source as each sync of a run finds it, `dataset` being the first) the
    API serves version `version`, which `switch` moves on. A first-page fetch (no cursor) lists
    the current version, and its cursors pin that version: a job's later pages list the same
    snapshot whatever changed since, as a snapshot-consistent cursor would. `fetch_thread` reads
    a thread as it is now: from the current version, or, for a thread removed from the listing,
    from the last version that listed it.
    """

    def __init__(
        self,
        dataset: Dataset,
        faults: FaultPlan | None = None,
        versions: tuple[Dataset, ...] = (),
    ):
        self.dataset = dataset
        self.versions = versions or (dataset,)
        self.version = 0
        self.faults = faults
        self.calls: list[tuple[ApiCall, str]] = []  # outcome "ok", "bad_request" or a fault kind
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def fetch_page(self, cursor: str | None, page_size: int) -> ThreadPage:
        with self._lock:
            call = ApiCall(self._count(FETCH_PAGE), cursor=cursor, page_size=page_size)
            self._fault(call)
            try:
                page = self._page(cursor, page_size)
            except ProviderError:
                self.calls.append((call, "bad_request"))
                raise
            self.calls.append((call, "ok"))
            return page

    def fetch_thread(self, thread_id: str) -> dict[str, Any]:
        """One thread as the API has it now (a copy); ProviderError 404 for an unknown id."""
        with self._lock:
            call = ApiCall(self._count(FETCH_THREAD), None, 0, FETCH_THREAD, thread_id)
            self._fault(call)
            thread = self._thread(thread_id)
            if thread is None:
                self.calls.append((call, "not_found"))
                raise ProviderError(f"no thread {thread_id!r}", status=404)
            self.calls.append((call, "ok"))
            copy: dict[str, Any] = json.loads(json.dumps(thread))
            return copy

    def switch(self, version: int) -> None:
        """From now on serve `version` of the source (a further sync has started)."""
        with self._lock:
            if not 0 <= version < len(self.versions):
                raise ValueError(f"no source version {version}; there are {len(self.versions)}")
            self.version = version
            self.dataset = self.versions[version]

    def _thread(self, thread_id: str) -> dict[str, Any] | None:
        for dataset in reversed(self.versions[: self.version + 1]):
            thread = dataset.by_id.get(thread_id)
            if thread is not None:
                return thread
        return None

    def _count(self, function: str) -> int:
        n = self._counts.get(function, 0)
        self._counts[function] = n + 1
        return n

    def _fault(self, call: ApiCall) -> None:
        fault = self.faults(call) if self.faults is not None else None
        if fault is not None:
            self.calls.append((call, fault.kind))
            raise fault.error()

    def _page(self, cursor: str | None, page_size: int) -> ThreadPage:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ProviderError(
                f"page size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}", status=400
            )
        offset, version = (0, self.version) if cursor is None else _cursor_fields(cursor)
        if version > self.version:
            raise ProviderError(f"invalid cursor {cursor!r}: not issued yet", status=400)
        threads = self.versions[version].threads
        if offset >= len(threads) and not (offset == 0 and cursor is None):
            raise ProviderError(f"invalid cursor {cursor!r}: past the end", status=400)
        end = offset + page_size
        return ThreadPage(
            threads=list(threads[offset:end]),
            next_cursor=encode_cursor(end, version) if end < len(threads) else None,
        )

    def outcomes(self) -> list[str]:
        with self._lock:
            return [outcome for _, outcome in self.calls]


# --- HTTP ----------------------------------------------------------------------------------------


@contextmanager
def serve(
    api: FakeThreadsAPI, host: str = "127.0.0.1", port: int = 0, *, timeout_delay: float = 2.0
) -> Iterator[str]:
    """Serve `api` at `GET /threads?limit=N&cursor=C` and `GET /threads/<id>`; yield the base
    URL, shut down on exit.

    A timeout fault holds the response for `timeout_delay` seconds (then answers 504), so a
    client with a shorter timeout times out for real.
    """
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # the HTTP mode only

    stopping = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            prefix = "/threads/"
            if url.path.startswith(prefix) and len(url.path) > len(prefix):
                thread_id = urllib.parse.unquote(url.path[len(prefix) :])
                self._serve(lambda: api.fetch_thread(thread_id))
                return
            if url.path != "/threads":
                self._send(404, {"error": f"no such path {url.path}"})
                return
            query = urllib.parse.parse_qs(url.query)
            try:
                limit = int(query.get("limit", ["50"])[0])
            except ValueError:
                self._send(400, {"error": "limit must be an integer"})
                return
            cursor = query.get("cursor", [None])[0]

            def page() -> object:
                got = api.fetch_page(cursor, limit)
                return {"threads": list(got.threads), "next_cursor": got.next_cursor}

            self._serve(page)

        def _serve(self, call: Callable[[], object]) -> None:
            """Answer with what `call` returns, or with its ProviderError as the API would."""
            try:
                payload = call()
            except ProviderError as e:
                if e.status is None:
                    stopping.wait(timeout_delay)
                    self._send(504, {"error": "upstream timeout"})
                else:
                    headers = {}
                    if e.status == 429 and e.retry_after is not None:
                        headers["Retry-After"] = f"{e.retry_after:g}"
                    self._send(e.status, {"error": str(e)}, headers)
                return
            self._send(200, payload)

        def _send(
            self, status: int, payload: object, headers: Mapping[str, str] | None = None
        ) -> None:
            body = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up (e.g. timed out) and closed the socket
                pass

    server = ThreadingHTTPServer((host, port), Handler)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="fakeapi-http", daemon=True
    )
    thread.start()
    try:
        bound_host, bound_port = server.server_address[:2]
        yield f"http://{bound_host!s}:{bound_port}"
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
        thread.join()
