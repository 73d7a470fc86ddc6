"""The threads API the pipeline reads: a protocol, its page and error types, and an HTTP client."""

from __future__ import annotations

import urllib.error
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from threadsync import pyjson

Thread = Mapping[str, Any]


@dataclass(frozen=True)
class ThreadPage:
    """One page of threads and the cursor of the next page (None on the last page)."""

    threads: Sequence[Thread]
    next_cursor: str | None


class ProviderError(Exception):
    """The API refused or failed a call: `status` is the HTTP status (None for a timeout)."""

    def __init__(self, message: str, *, status: int | None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class ThreadsProvider(Protocol):
    """The threads API: a page of threads (`cursor` None for the first page), and one whole
    thread by id, which the processor reads before it processes the thread."""

    def fetch_page(self, cursor: str | None, page_size: int) -> ThreadPage: ...

    def fetch_thread(self, thread_id: str) -> Thread: ...


class HttpThreadsProvider:
    """Reads pages from `GET {base_url}/threads?limit=N[&cursor=C]` with the standard library."""

    def __init__(self, base_url: str, *, timeout: float = 10.0, token: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = token

    def fetch_page(self, cursor: str | None, page_size: int) -> ThreadPage:
        query: dict[str, str | int] = {"limit": page_size}
        if cursor is not None:
            query["cursor"] = cursor
        return _parse_page(self._get(f"/threads?{urllib.parse.urlencode(query)}"))

    def fetch_thread(self, thread_id: str) -> Thread:
        return _parse_thread(self._get(f"/threads/{urllib.parse.quote(thread_id, safe='')}"))

    def _get(self, path: str) -> bytes:
        # Imported when used: it brings http.client, email and ssl (about 30 ms), which loading
        # a pipeline does not need.
        import urllib.request

        url = f"{self.base_url}{path}"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        if self.token is not None:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body: bytes = response.read()
        except urllib.error.HTTPError as e:
            raise _http_error(e) from e
        except urllib.error.URLError as e:
            raise self._network_error(e.reason) from e
        except OSError as e:  # a timeout or reset while reading the body
            raise self._network_error(e) from e
        return body

    def _network_error(self, reason: object) -> ProviderError:
        if isinstance(reason, TimeoutError):
            return ProviderError(f"timed out after {self.timeout:g}s", status=None)
        if isinstance(reason, ConnectionRefusedError):
            return ProviderError(
                f"connection refused by threads API at {self.base_url}", status=None
            )
        return ProviderError(f"cannot reach threads API at {self.base_url}: {reason}", status=None)


def _http_error(e: urllib.error.HTTPError) -> ProviderError:
    message = f"threads API answered HTTP {e.code}"
    try:
        payload = pyjson.loads(e.read())
        if isinstance(payload, dict) and isinstance(payload.get("error"), str):
            message = f"{message}: {payload['error']}"
    except (OSError, ValueError, RecursionError):
        pass  # an error body that is not JSON, or too deep for it, says nothing (as in the port)
    retry_after: float | None = None
    if e.code == 429:
        try:
            retry_after = float(e.headers.get("Retry-After", ""))
        except ValueError:
            retry_after = None
    return ProviderError(message, status=e.code, retry_after=retry_after)


def _parse_thread(body: bytes) -> Thread:
    try:
        payload = pyjson.loads(body)
    except ValueError as e:
        raise ProviderError(f"malformed response from threads API: {e}", status=502) from e
    if not isinstance(payload, dict) or not isinstance(payload.get("id"), str):
        raise ProviderError(
            "malformed response from threads API: a thread must be an object with a string 'id'",
            status=502,
        )
    return payload


def _parse_page(body: bytes) -> ThreadPage:
    try:
        payload = pyjson.loads(body)
    except ValueError as e:
        raise ProviderError(f"malformed response from threads API: {e}", status=502) from e
    if not isinstance(payload, dict):
        raise ProviderError("malformed response from threads API: not an object", status=502)
    threads = payload.get("threads")
    next_cursor = payload.get("next_cursor", ...)
    if not isinstance(threads, list) or not all(isinstance(t, dict) for t in threads):
        raise ProviderError(
            "malformed response from threads API: 'threads' is not a list of objects", status=502
        )
    if next_cursor is not None and not isinstance(next_cursor, str):
        raise ProviderError(
            "malformed response from threads API: 'next_cursor' missing or not a string",
            status=502,
        )
    return ThreadPage(threads=threads, next_cursor=next_cursor)
