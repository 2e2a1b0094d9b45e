"""Running ironlb as users do: a command to completion, or a long-lived speaker process."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

DEADLINE = 60.0  # generous: only a hung process ever reaches it


def ironlb(*args: object, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ironlb", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


class Speaker:
    """``ironlb speaker`` in the background; its plan lines are read as they come.

    ``prefix`` runs it elsewhere, e.g. ``("ip", "netns", "exec", "node1")``. To see
    what speakers log while debugging a test, set ``IRONLB_TEST_SPEAKER_LOG_LEVEL``
    (e.g. ``info``); ``errors()`` then holds it.
    """

    def __init__(self, *args: object, prefix: Sequence[str] = ()) -> None:
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - never a full pipe
        level = os.environ.get("IRONLB_TEST_SPEAKER_LOG_LEVEL")
        logging = ("--log-level", level) if level else ()
        self.process = subprocess.Popen(
            [*prefix, sys.executable, "-X", "faulthandler", "-m", "ironlb", *logging, "speaker",
             *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            bufsize=0,  # select() must see every byte: no read-ahead buffer in between
        )  # fmt: skip
        self.last: dict | None = None
        self._partial = b""
        self._lines: list[bytes] = []

    def errors(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()

    def next_plan(self, until: Callable[[dict], bool]) -> dict:
        """Plan lines until one satisfies ``until``; fails at the deadline."""
        if self.last is not None and until(self.last):
            return self.last
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            line = self._line(min(1.0, deadline - time.monotonic()))
            if line is None:
                continue
            self.last = json.loads(line)
            if until(self.last):
                return self.last
        raise AssertionError(f"no such plan before the deadline; last: {self.last}")

    def _line(self, timeout: float) -> bytes | None:
        """The next complete output line, or None if none came within ``timeout``."""
        if not self._lines:
            ready, _, _ = select.select([self.process.stdout], [], [], max(timeout, 0))
            if not ready:
                assert self.process.poll() is None, f"speaker exited: {self.errors()}"
                return None
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:  # the exit status tells a signal (negative) from an exit
                status = self.process.wait(timeout=30)
                raise AssertionError(f"speaker exited with status {status}: {self.errors()}")
            *complete, self._partial = (self._partial + chunk).split(b"\n")
            self._lines.extend(complete)
            if not self._lines:
                return None
        return self._lines.pop(0)

    def terminate(self) -> int:
        """SIGTERM, then wait for the exit while draining the plan lines nobody reads:
        a speaker whose stdout pipe is full blocks on its next line and never stops
        (membership flapping under load prints many). A speaker still alive at the
        deadline dumps its threads' stacks (faulthandler) into the failure message."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + DEADLINE
        while self.process.poll() is None and time.monotonic() < deadline:
            ready, _, _ = select.select([self.process.stdout], [], [], 0.2)
            if ready and not os.read(self.process.stdout.fileno(), 65536):
                break  # stdout closed: the process is exiting
        try:
            code = self.process.wait(timeout=max(deadline - time.monotonic(), 1.0))
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGABRT)  # faulthandler writes every stack
            self.process.wait(timeout=10)
            raise AssertionError(f"speaker did not stop on SIGTERM:\n{self.errors()}") from None
        self.stderr.close()
        return code


class ControllerProcess:
    """``ironlb controller`` in the background, its stderr kept for failure messages.

    ``connection``: how it reaches the API (``--kubeconfig PATH`` or ``--api-server URL``).
    """

    def __init__(self, connection: Sequence[str], store: object, *extra: str, lease=(0.2, 2)):
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - never a full pipe
        interval, duration = lease
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "ironlb", "--log-level", "info", "controller",
                *connection, "--store", str(store), "--lease-interval", str(interval),
                "--lease-duration", str(duration), "--digest-interval", "0", *extra,
            ],
            stderr=self.stderr,
        )  # fmt: skip

    def log(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-5000:]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        code = self.process.wait(timeout=DEADLINE)
        self.stderr.close()
        return code
