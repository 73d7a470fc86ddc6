"""The Docker backend: a throwaway postgres container through testcontainers."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager

from harness.postgres import lifecycle
from harness.postgres.errors import EnvironmentProblem, one_line
from harness.postgres.server import Server
from harness.postgres.settings import SERVER_SETTINGS

DOCKER_IMAGE = "postgres:16-alpine"


def docker_available() -> tuple[bool, str]:
    """Tell whether a Docker engine answers, with a short reason when it does not."""
    try:
        # Imported by name: the docker package ships no type stubs.
        docker = importlib.import_module("docker")
    except ImportError:
        return False, "the docker Python package is not installed"
    try:
        client = docker.from_env(timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any failure to reach the daemon means "not available"
        return False, one_line(str(exc))[:200] or type(exc).__name__
    return True, "Docker engine reachable"


@contextmanager
def docker() -> Iterator[Server]:
    ok, reason = docker_available()
    if not ok:
        raise EnvironmentProblem(
            f"Docker engine not reachable ({reason}): start Docker, "
            "or use the embedded server (the default) or --dsn"
        )
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:
        from testcontainers.postgres import PostgresContainer

    container = PostgresContainer(
        DOCKER_IMAGE, username="postgres", password="postgres", dbname="postgres", driver=None
    )
    command: list[str] = []
    for setting in SERVER_SETTINGS:
        command += ["-c", setting]
    container.with_command(command)
    container.start()
    state = {"stopped": False}

    def stop() -> None:
        if not state["stopped"]:
            state["stopped"] = True
            lifecycle.unregister(id(container))
            container.stop()

    lifecycle.install_signal_handlers()
    lifecycle.register(id(container), stop)
    try:
        yield Server(
            kind="docker",
            host=str(container.get_container_host_ip()),
            port=int(container.get_exposed_port(5432)),
            user="postgres",
            password="postgres",
            admin_dbname="postgres",
            _stop=stop,
        )
    finally:
        stop()
