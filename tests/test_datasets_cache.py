"""A dataset read from the disk cache is the one the generator makes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.engine import datasets
from harness.fakeapi import generate_dataset


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(datasets, "DATASET_CACHE", tmp_path)
    monkeypatch.delenv(datasets.CACHE_ENV, raising=False)
    return tmp_path


@pytest.mark.parametrize(("seed", "threads"), [(1, 0), (1, 7), (4, 120), (99, 33)])
def test_a_cached_dataset_equals_a_generated_one(cache: Path, seed: int, threads: int) -> None:
    made: list[tuple[int, int]] = []

    def make(s: int, n: int) -> datasets.Dataset:
        made.append((s, n))
        return generate_dataset(s, n)

    first = datasets.load_or_make(seed, threads, make)
    again = datasets.load_or_make(seed, threads, make)
    assert made == [(seed, threads)], "the second read did not come from the cache"
    assert first == again == generate_dataset(seed, threads)
    assert again.to_json() == generate_dataset(seed, threads).to_json()
    assert list(cache.glob(f"*/{seed}-{threads}.json"))


def test_a_broken_entry_is_made_again(cache: Path) -> None:
    datasets.load_or_make(3, 5, generate_dataset)
    (entry,) = cache.glob("*/3-5.json")
    entry.write_text("{not json", encoding="utf-8")
    assert datasets.load_or_make(3, 5, generate_dataset) == generate_dataset(3, 5)


def test_turned_off_it_reads_and_writes_nothing(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(datasets.CACHE_ENV, "0")
    assert datasets.load_or_make(2, 4, generate_dataset) == generate_dataset(2, 4)
    assert not any(cache.iterdir())


def test_only_recent_generator_versions_are_kept(cache: Path) -> None:
    for n in range(datasets.KEYS_KEPT + 3):
        (cache / f"old{n:02d}").mkdir()
        os.utime(cache / f"old{n:02d}", (1000 + n, 1000 + n))
    datasets.load_or_make(5, 2, generate_dataset)
    kept = sorted(p.name for p in cache.iterdir())
    assert len(kept) == datasets.KEYS_KEPT
    assert datasets.generator_key() in kept


@pytest.mark.parametrize("seed", [0, 3, 7919 * 2 ^ 1])
def test_cached_pools_are_the_drawn_ones(cache: Path, seed: int) -> None:
    from harness import fakeapi

    drawn: list[int] = []

    def draw(s: int) -> fakeapi.Pools:
        drawn.append(s)
        return fakeapi._draw_pools(s)

    first = datasets.load_or_make_pools(seed, draw)
    again = datasets.load_or_make_pools(seed, draw)
    assert drawn == [seed], "the second read did not come from the cache"
    assert first == again == fakeapi._draw_pools(seed)
    assert list(cache.glob(f"*/pools-{seed}.json"))


def test_a_dataset_from_cached_pools_equals_one_drawn_without_the_cache(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness import fakeapi

    fakeapi._pools.cache_clear()
    datasets.load_or_make_pools(5, fakeapi._draw_pools)  # stored; the next draw reads it
    assert list(cache.glob("*/pools-5.json"))
    with monkeypatch.context() as m:

        def no_drawing(seed: int) -> fakeapi.Pools:
            raise AssertionError(f"pools of seed {seed} drawn, not read from the cache")

        m.setattr(fakeapi, "_draw_pools", no_drawing)
        from_cache = generate_dataset(5, 40)
    fakeapi._pools.cache_clear()
    monkeypatch.setenv(datasets.CACHE_ENV, "0")
    assert generate_dataset(5, 40).to_json() == from_cache.to_json()
    fakeapi._pools.cache_clear()


def test_a_broken_pools_entry_is_drawn_again(cache: Path) -> None:
    from harness import fakeapi

    datasets.load_or_make_pools(2, fakeapi._draw_pools)
    (entry,) = cache.glob("*/pools-2.json")
    entry.write_text('[["a"], 3]', encoding="utf-8")
    assert datasets.load_or_make_pools(2, fakeapi._draw_pools) == fakeapi._draw_pools(2)
