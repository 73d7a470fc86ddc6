"""Runs the report tests read: two shrunk mutant scenarios and a real lock wait."""

from __future__ import annotations

from pathlib import Path

import psycopg

from harness.engine import ActorSpec, run_actors
from harness.history import History
from harness.replay import Verdict, Workbench, run_scenario
from harness.scenario import load
from threadsync.pipeline import Database

ROOT = Path(__file__).resolve().parents[1]
MUTANTS = ROOT / "scenarios" / "mutants"
SHOWN = ("no_fencing", "nonatomic_claim")  # the two reports docs/ has screenshots of


def replay(bench: Workbench, name: str) -> Verdict:
    return run_scenario(bench, load(MUTANTS / f"{name}.json"))


def lock_wait(dsn: str) -> History:
    """`a` updates row 1 inside a transaction; `b` updates it too and waits for a's COMMIT."""
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL)")
        c.execute("INSERT INTO t VALUES (1, 0)")

    def a(db: Database) -> None:
        with db.transaction():
            db.query("UPDATE t SET v = v + 1 WHERE id = %(id)s", {"id": 1})
            db.query("SELECT 1 AS one")

    def b(db: Database) -> object:
        return db.query("UPDATE t SET v = v + 10 WHERE id = %(id)s RETURNING v", {"id": 1})

    # a: invoke, BEGIN, UPDATE; b: invoke, UPDATE (blocks); a: SELECT, COMMIT.
    return run_actors(dsn, [ActorSpec("a", a), ActorSpec("b", b)], choices=[0, 0, 0, 1, 1]).history
