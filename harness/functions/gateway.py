"""The one HTTP endpoint every Edge Function under test talks to: Supabase's API gateway and the
threads API, both answered by the actor of the delivery that made the request.

A request names its delivery with the `x-threadsync-delivery` header (the host adds it). The
gateway never touches the database itself: it hands the request to that delivery's actor, which
runs it as a granted step, and writes back whatever the actor answers. A request from a delivery
that is over (it replied, or its instance crashed) is refused without effect, as the requests of
a killed instance never arrive.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# One HTTP reply type for the gateway and the PostgREST emulation it serves.
from harness.supabase.rest import Answer

DELIVERY_HEADER = "x-threadsync-delivery"
# The virtual clock's time (epoch ms) on every answer, which the host's `Date` reads.
NOW_HEADER = "x-threadsync-now"
# An HTTP body larger than this is refused before anyone reads it.
MAX_BODY = 16 * 1024 * 1024


def json_answer(status: int, payload: object, headers: dict[str, str] | None = None) -> Answer:
    return Answer(
        status,
        {"content-type": "application/json", **(headers or {})},
        json.dumps(payload).encode(),
    )


@dataclass
class Incoming:
    """One request a function made, waiting for its delivery's actor to answer it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    _answered: threading.Event = field(default_factory=threading.Event)
    _answer: Answer | None = None

    def answer(self, answer: Answer) -> None:
        if not self._answered.is_set():
            self._answer = answer
            self._answered.set()

    def wait(self) -> Answer:
        self._answered.wait()
        assert self._answer is not None
        return self._answer


@dataclass(frozen=True)
class Finished:
    """The function's own reply to the webhook delivery."""

    status: int
    body: bytes


Event = Incoming | Finished


@dataclass
class Delivery:
    """One webhook delivery in flight: the function's requests and, last, its reply."""

    id: str
    events: queue.SimpleQueue[Event] = field(default_factory=queue.SimpleQueue)
    open_requests: list[Incoming] = field(default_factory=list)


def _refused(delivery_id: str) -> Answer:
    return json_answer(
        503,
        {
            "error": f"delivery {delivery_id!r} is over (its instance replied or crashed): "
            "request refused without effect"
        },
    )


class Gateway:
    """A threaded HTTP server on 127.0.0.1 routing requests to deliveries by header."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[str, Delivery] = {}
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="threadsync-gateway", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def open(self) -> Delivery:
        with self._lock:
            delivery = Delivery(f"{os.getpid()}-{next(self._ids)}")
            self._live[delivery.id] = delivery
            return delivery

    def close(self, delivery: Delivery) -> None:
        """The delivery is over: refuse whatever it still asks, and whatever it is waiting on."""
        with self._lock:
            self._live.pop(delivery.id, None)
            pending, delivery.open_requests = delivery.open_requests, []
        for request in pending:
            request.answer(_refused(delivery.id))

    def submit(self, delivery_id: str, request: Incoming) -> Answer:
        with self._lock:
            delivery = self._live.get(delivery_id)
            if delivery is None:
                return _refused(delivery_id)
            delivery.open_requests.append(request)
            delivery.events.put(request)
        answer = request.wait()
        with self._lock:
            if request in delivery.open_requests:
                delivery.open_requests.remove(request)
        return answer

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_class(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the functions' fetch reuses connections
        # Headers and body go out in two writes; without this, delayed ACKs add 40 ms to each.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def do_PATCH(self) -> None:
            self._serve()

        def do_PUT(self) -> None:
            self._serve()

        def do_DELETE(self) -> None:
            self._serve()

        def do_HEAD(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY:
                self._write(json_answer(413, {"error": f"body over {MAX_BODY} bytes"}))
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            delivery_id = headers.get(DELIVERY_HEADER, "")
            if not delivery_id:
                answer = json_answer(
                    400,
                    {
                        "error": f"no {DELIVERY_HEADER} header: only requests made by a function "
                        "the harness is running are served here"
                    },
                )
            else:
                request = Incoming(self.command, parts.path, parts.query, headers, body)
                answer = gateway.submit(delivery_id, request)
            self._write(answer)

        def _write(self, answer: Answer) -> None:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("content-length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one line per request would drown the run's own output

    return Handler


__all__ = ["NOW_HEADER", "Answer", "Delivery", "Finished", "Gateway", "Incoming", "json_answer"]
