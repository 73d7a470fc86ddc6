"""The fake threads API: deterministic data, exact pagination, planned faults, HTTP round trip."""

from __future__ import annotations

import io
import json
import socket
import urllib.error
from email.message import Message
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.fakeapi import (
    FETCH_THREAD,
    ApiCall,
    ApiFault,
    Dataset,
    FakeThreadsAPI,
    _pools,
    combine,
    encode_cursor,
    faults_at,
    faults_for_page,
    generate_dataset,
    page_number_of,
    serve,
)
from threadsync.provider import HttpThreadsProvider, ProviderError, ThreadsProvider, _http_error


def paginate(provider: ThreadsProvider, page_size: int) -> list[list[Any]]:
    pages: list[list[Any]] = []
    cursor: str | None = None
    while True:
        page = provider.fetch_page(cursor, page_size)
        pages.append(list(page.threads))
        cursor = page.next_cursor
        if cursor is None:
            return pages
        assert len(pages) < 10_000, "pagination does not end"


# --- dataset ---------------------------------------------------------------------------------


def test_same_seed_gives_identical_json() -> None:
    assert generate_dataset(42, 300).to_json() == generate_dataset(42, 300).to_json()


def test_a_dataset_is_the_same_however_many_were_generated_before() -> None:
    """Faker's pools are drawn once per seed and kept: a dataset is the same whether they were
    drawn for it or kept from another size, and no two datasets share a list."""
    _pools.cache_clear()
    first = generate_dataset(5, 9).to_json()
    other_size = generate_dataset(5, 3)
    generate_dataset(6, 9)
    again = generate_dataset(5, 9)
    assert again.to_json() == first
    other_size.threads[0]["participants"].append("someone@else")
    assert generate_dataset(5, 9).to_json() == first
    assert again.threads[0]["participants"] is not other_size.threads[0]["participants"]


def test_different_seed_gives_different_data() -> None:
    assert generate_dataset(1, 50).to_json() != generate_dataset(2, 50).to_json()


def test_thread_shape() -> None:
    ds = generate_dataset(3, 200)
    assert len({t["id"] for t in ds.threads}) == 200
    for t in ds.threads:
        assert ds.by_id[t["id"]] is t
        assert isinstance(t["subject"], str) and t["subject"]
        assert 2 <= len(t["participants"]) <= 4
        assert 1 <= len(t["messages"]) <= 5
        sent = [m["sent_at"] for m in t["messages"]]
        assert sent == sorted(sent) and all(s.endswith("Z") for s in sent)
        assert t["updated_at"] == sent[-1]
        assert all(m["from"] in t["participants"] for m in t["messages"])
    json.dumps(ds.threads)  # serialisable


# --- pagination ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "page_size"), [(0, 10), (1, 10), (7, 10), (10, 10), (30, 10), (31, 10), (5, 1)]
)
def test_pagination_covers_every_thread_once_in_order(n: int, page_size: int) -> None:
    ds = generate_dataset(5, n)
    pages = paginate(FakeThreadsAPI(ds), page_size)
    assert pages == ds.pages(page_size)
    assert [t["id"] for p in pages for t in p] == [t["id"] for t in ds.threads]
    assert len(pages) == max(1, -(-n // page_size))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 200), page_size=st.integers(1, 60))
def test_pagination_property(n: int, page_size: int) -> None:
    ds = generate_dataset(11, n)
    pages = paginate(FakeThreadsAPI(ds), page_size)
    assert tuple(t for p in pages for t in p) == ds.threads
    assert all(1 <= len(p) <= page_size for p in pages) or n == 0


@pytest.mark.parametrize("cursor", ["not-a-cursor!", "", encode_cursor(-1), "eyJ4IjoxfQ", "e30"])
def test_malformed_cursor_is_400(cursor: str) -> None:
    api = FakeThreadsAPI(generate_dataset(1, 10))
    with pytest.raises(ProviderError) as err:
        api.fetch_page(cursor, 5)
    assert err.value.status == 400
    assert "invalid cursor" in str(err.value)


def test_cursor_past_end_is_400() -> None:
    with pytest.raises(ProviderError) as err:
        FakeThreadsAPI(generate_dataset(1, 10)).fetch_page(encode_cursor(10), 5)
    assert err.value.status == 400


@pytest.mark.parametrize("page_size", [0, -1, 1001])
def test_bad_page_size_is_400(page_size: int) -> None:
    with pytest.raises(ProviderError) as err:
        FakeThreadsAPI(generate_dataset(1, 10)).fetch_page(None, page_size)
    assert err.value.status == 400


def test_page_number_of() -> None:
    assert page_number_of(None, 10) == 1
    assert page_number_of(encode_cursor(10), 10) == 2
    assert page_number_of(encode_cursor(25), 10) == 3


# --- faults ----------------------------------------------------------------------------------


def test_faults_at_specific_calls() -> None:
    ds = generate_dataset(2, 25)
    api = FakeThreadsAPI(
        ds,
        faults_at({0: ApiFault("rate_limit", retry_after=7.5), 2: ApiFault("server_error")}),
    )
    with pytest.raises(ProviderError) as err:
        api.fetch_page(None, 10)
    assert (err.value.status, err.value.retry_after) == (429, 7.5)
    first = api.fetch_page(None, 10)
    with pytest.raises(ProviderError) as err:
        api.fetch_page(first.next_cursor, 10)
    assert err.value.status == 500 and err.value.retry_after is None
    second = api.fetch_page(first.next_cursor, 10)
    assert list(second.threads) == list(ds.threads[10:20])
    assert api.outcomes() == ["rate_limit", "ok", "server_error", "ok"]
    assert api.calls[2][0] == ApiCall(index=2, cursor=first.next_cursor, page_size=10)


def test_faults_for_page_faults_first_n_calls_of_that_page() -> None:
    ds = generate_dataset(2, 25)
    api = FakeThreadsAPI(ds, faults_for_page(2, ApiFault("timeout"), times=2))
    first = api.fetch_page(None, 10)
    for _ in range(2):
        with pytest.raises(ProviderError) as err:
            api.fetch_page(first.next_cursor, 10)
        assert err.value.status is None and "timed out" in str(err.value)
    assert list(api.fetch_page(first.next_cursor, 10).threads) == list(ds.threads[10:20])
    assert api.fetch_page(None, 10) == first
    assert api.outcomes() == ["ok", "timeout", "timeout", "ok", "ok"]


def test_combine_takes_first_fault() -> None:
    plan = combine(
        faults_at({1: ApiFault("server_error")}),
        faults_for_page(1, ApiFault("rate_limit", retry_after=3.0)),
    )
    api = FakeThreadsAPI(generate_dataset(2, 5), plan)
    statuses = []
    for _ in range(4):
        try:
            api.fetch_page(None, 10)
            statuses.append(200)
        except ProviderError as e:
            statuses.append(e.status or 0)
    assert statuses == [429, 500, 200, 200]
    assert api.outcomes() == ["rate_limit", "server_error", "ok", "ok"]


def test_no_plan_never_faults() -> None:
    api = FakeThreadsAPI(generate_dataset(2, 5))
    assert paginate(api, 2) == Dataset(2, generate_dataset(2, 5).threads).pages(2)
    assert set(api.outcomes()) == {"ok"}


def test_fetch_thread_serves_each_thread_and_404s_an_unknown_id() -> None:
    ds = generate_dataset(3, 4)
    api = FakeThreadsAPI(ds)
    for thread in ds.threads:
        assert api.fetch_thread(thread["id"]) == thread
    with pytest.raises(ProviderError) as err:
        api.fetch_thread("thr_99999")
    assert err.value.status == 404
    assert api.outcomes() == ["ok"] * 4 + ["not_found"]


def test_fetch_thread_faults_count_their_own_calls() -> None:
    ds = generate_dataset(3, 4)
    plan = combine(
        faults_at({0: ApiFault("server_error")}),
        faults_at(
            {0: ApiFault("timeout"), 1: ApiFault("rate_limit", retry_after=9.0)}, FETCH_THREAD
        ),
    )
    api = FakeThreadsAPI(ds, plan)
    with pytest.raises(ProviderError) as err:
        api.fetch_thread("thr_00000")  # fetch_thread call 0
    assert err.value.status is None
    with pytest.raises(ProviderError) as err:
        api.fetch_page(None, 2)  # fetch_page call 0
    assert err.value.status == 500
    with pytest.raises(ProviderError) as err:
        api.fetch_thread("thr_00000")
    assert (err.value.status, err.value.retry_after) == (429, 9.0)
    assert api.fetch_thread("thr_00001") == ds.threads[1]
    assert [(c.function, c.index) for c, _ in api.calls] == [
        (FETCH_THREAD, 0),
        ("fetch_page", 0),
        (FETCH_THREAD, 1),
        (FETCH_THREAD, 2),
    ]


# --- HTTP ------------------------------------------------------------------------------------


def test_http_round_trip_matches_in_process() -> None:
    ds = generate_dataset(4, 57)
    with serve(FakeThreadsAPI(ds)) as url:
        assert url.startswith("http://127.0.0.1:")
        client = HttpThreadsProvider(url, timeout=5.0, token="secret")
        assert paginate(client, 10) == paginate(FakeThreadsAPI(ds), 10) == ds.pages(10)
        empty_api = FakeThreadsAPI(generate_dataset(4, 0))
    with serve(empty_api) as url:
        page = HttpThreadsProvider(url, timeout=5.0).fetch_page(None, 10)
        assert list(page.threads) == [] and page.next_cursor is None


def test_http_faults() -> None:
    plan = faults_at(
        {
            0: ApiFault("rate_limit", retry_after=12.0),
            1: ApiFault("server_error"),
            2: ApiFault("timeout"),
        }
    )
    api = FakeThreadsAPI(generate_dataset(4, 5), plan)
    with serve(api, timeout_delay=0.5) as url:
        client = HttpThreadsProvider(url, timeout=0.2)
        with pytest.raises(ProviderError) as err:
            client.fetch_page(None, 10)
        assert (err.value.status, err.value.retry_after) == (429, 12.0)
        with pytest.raises(ProviderError) as err:
            client.fetch_page(None, 10)
        assert err.value.status == 500 and "injected" in str(err.value)
        with pytest.raises(ProviderError) as err:
            client.fetch_page(None, 10)
        assert err.value.status is None and "timed out after 0.2s" in str(err.value)
        assert len(client.fetch_page(None, 10).threads) == 5
        with pytest.raises(ProviderError) as err:
            client.fetch_page("garbage!", 10)
        assert err.value.status == 400 and "invalid cursor" in str(err.value)
    assert api.outcomes() == ["rate_limit", "server_error", "timeout", "ok", "bad_request"]


def test_http_fetch_thread_round_trip_and_faults() -> None:
    ds = generate_dataset(4, 3)
    plan = faults_at(
        {
            0: ApiFault("rate_limit", retry_after=4.0),
            1: ApiFault("server_error"),
            2: ApiFault("timeout"),
        },
        FETCH_THREAD,
    )
    api = FakeThreadsAPI(ds, plan)
    with serve(api, timeout_delay=0.5) as url:
        client = HttpThreadsProvider(url, timeout=0.2)
        with pytest.raises(ProviderError) as err:
            client.fetch_thread("thr_00001")
        assert (err.value.status, err.value.retry_after) == (429, 4.0)
        with pytest.raises(ProviderError) as err:
            client.fetch_thread("thr_00001")
        assert err.value.status == 500
        with pytest.raises(ProviderError) as err:
            client.fetch_thread("thr_00001")
        assert err.value.status is None and "timed out" in str(err.value)
        assert client.fetch_thread("thr_00001") == ds.threads[1]
        with pytest.raises(ProviderError) as err:
            client.fetch_thread("no/such thread")
        assert err.value.status == 404 and "no thread 'no/such thread'" in str(err.value)
    assert api.outcomes() == ["rate_limit", "server_error", "timeout", "ok", "not_found"]


def test_http_unknown_path_is_404() -> None:
    with serve(FakeThreadsAPI(generate_dataset(4, 5))) as url:
        with pytest.raises(ProviderError) as err:
            HttpThreadsProvider(url + "/nope", timeout=2.0).fetch_page(None, 10)
        assert err.value.status == 404


def test_http_connection_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ProviderError) as err:
        HttpThreadsProvider(f"http://127.0.0.1:{port}", timeout=2.0).fetch_page(None, 10)
    assert err.value.status is None
    assert "connection refused" in str(err.value)


@pytest.mark.parametrize("body", [b"not json", b"[" * 600, b'{"error": 1}'])
def test_an_http_error_whose_body_says_nothing_is_the_status_alone(body: bytes) -> None:
    """As the TypeScript port's httpError: a body that is not JSON, too deep to read, or without
    an "error" text adds nothing to the status."""
    error = urllib.error.HTTPError("http://api/threads", 503, "no", Message(), io.BytesIO(body))
    assert str(_http_error(error)) == "threads API answered HTTP 503"
