"""One Deno process serving one Edge Function, as Supabase's Edge Runtime would, and the webhook
deliveries the harness posts to it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from harness.functions.deno import DenoMissing, deno_binary, deno_dir, deno_env
from harness.functions.gateway import DELIVERY_HEADER, NOW_HEADER, Delivery, Finished
from harness.postgres.launcher import launch

HOST_TS = Path(__file__).with_name("host.ts")
# The first start may fetch npm packages from the registry; later ones read DENO_DIR.
START_TIMEOUT_S = 300.0
_STDERR_LINES = 40


class FunctionsError(Exception):
    """An Edge Function could not be started or stopped answering; the message says what to do."""


@dataclass
class Host:
    """A started Deno process serving `name` on 127.0.0.1:`port`."""

    name: str
    folder: Path
    env: dict[str, str]
    service_key: str
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0
    stderr: deque[str] = field(default_factory=lambda: deque(maxlen=_STDERR_LINES))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        """Start the process and wait for its `ready` line; a failure names the function."""
        index = self.folder / "index.ts"
        if not index.is_file():
            raise FunctionsError(f"Edge Function {self.name!r}: {index} not found")
        try:
            binary = deno_binary()
        except DenoMissing as exc:
            raise FunctionsError(str(exc)) from None
        cmd = [str(binary), "run", "--allow-all", "--no-prompt", *_config_flags(self.folder)]
        cmd += [str(HOST_TS), self.name, index.resolve().as_uri()]
        env = {**deno_env(), **self.env}
        fetching = not (deno_dir() / "npm").exists()
        if fetching:
            print(
                f"threadsync: first run: Deno fetches the functions' npm packages once into "
                f"{deno_dir()}",
                file=sys.stderr,
                flush=True,
            )
        # Started in the function's folder, so Deno finds its deno.json (or the functions
        # folder's) as the Supabase CLI does when it bundles the function.
        proc = launch(
            cmd,
            signal.SIGKILL,
            cwd=self.folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.proc = proc
        threading.Thread(target=self._drain_stderr, args=(proc,), daemon=True).start()
        self.port = self._wait_ready(proc)

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> int:
        assert proc.stdout is not None
        box: list[int] = []

        def read() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.decode(errors="replace").strip()
                try:
                    ready = json.loads(line).get("ready") if line.startswith("{") else None
                except ValueError:
                    ready = None
                if isinstance(ready, int) and not box:
                    box.append(ready)
                elif line:
                    self.stderr.append(line)  # the function's console.log, kept for errors

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not box:
            if proc.poll() is not None:
                time.sleep(0.05)  # let the stderr reader catch the last lines
                raise FunctionsError(
                    f"Edge Function {self.name!r} did not start (deno exited with "
                    f"{proc.returncode}): {self.last_error()}"
                )
            if time.monotonic() > deadline:
                proc.kill()
                raise FunctionsError(
                    f"Edge Function {self.name!r} did not start within {START_TIMEOUT_S:g}s: "
                    f"{self.last_error()}"
                )
            time.sleep(0.01)
        return box[0]

    def _drain_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            if line:
                self.stderr.append(line)

    def last_error(self) -> str:
        lines = [ln for ln in self.stderr if "Download" not in ln]
        return " | ".join(lines[-3:]) or "no output"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ensure_running(self) -> None:
        with self._lock:
            if not self.alive:
                if self.proc is not None:
                    print(
                        f"threadsync: Edge Function {self.name!r} exited "
                        f"({self.last_error()}); starting it again",
                        file=sys.stderr,
                        flush=True,
                    )
                self.start()

    def deliver(self, body: str | bytes, delivery: Delivery, now_ms: int | None = None) -> None:
        """POST the webhook body as pg_net would; the reply arrives on the delivery's events."""
        data = body.encode() if isinstance(body, str) else body
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/functions/v1/{self.name}",
            data=data,
            method="POST",
            headers={
                "content-type": "application/json",
                "authorization": f"Bearer {self.service_key}",
                DELIVERY_HEADER: delivery.id,
            },
        )
        if now_ms is not None:
            request.add_header(NOW_HEADER, str(now_ms))

        def post() -> None:
            try:
                with urllib.request.urlopen(request, timeout=None) as response:
                    delivery.events.put(Finished(response.status, response.read()))
            except urllib.error.HTTPError as exc:
                delivery.events.put(Finished(exc.code, exc.read()))
            except OSError as exc:
                message = f"Edge Function {self.name!r} did not answer: {exc}; {self.last_error()}"
                delivery.events.put(Finished(502, json.dumps({"error": message}).encode()))

        threading.Thread(target=post, name=f"deliver-{delivery.id}", daemon=True).start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def _config_flags(folder: Path) -> list[str]:
    """The function's own deno.json (or the functions folder's), as the Supabase CLI resolves
    its imports; its deno.lock where the project keeps one, and never a new one written into the
    user's tree."""
    flags: list[str] = []
    for where in (folder, folder.parent):
        configs = [where / n for n in ("deno.json", "deno.jsonc") if (where / n).is_file()]
        if configs:
            flags.append(f"--config={configs[0]}")
            break
    for where in (folder, folder.parent):
        if (where / "deno.lock").is_file():
            return [*flags, f"--lock={where / 'deno.lock'}"]
    return [*flags, "--no-lock"]


__all__ = ["HOST_TS", "FunctionsError", "Host"]
