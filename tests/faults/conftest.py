"""Fixtures of the fault tests: an own redis-server, real worker processes, the test database shared.

Every fault test starts its own ``redis-server`` (AOF on, so a restart on the same port and
directory keeps the data) and its own Dramatiq worker processes (``python -m dramatiq
django_dramatiq.setup durian.tasks``) with ``tests.faults.worker_settings``. The workers open the
test's own database (``DURIAN_TEST_DB_NAME``); the tests are transactional, so they see its rows.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection

from durian.embedded import EmbeddedRedis, start_redis
from durian.storage import connection as durian_connection
from durian.testing import Receiver
from example_project.people.models import Person

from ..waiting import nothing_in_flight, pipeline_state, wait_until
from .worker_settings import FAULT_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
WORKER_SETTINGS = "tests.faults.worker_settings"

#: The fault tests in two ``xdist_group``s, each run by one xdist worker, so at most two run at once.
#: They kill, freeze and flood real worker processes and bound what that costs (repeated posts,
#: seconds per save); four at once on two cores starve each other's workers past those bounds (a
#: SIGKILL mid-burst repeated 51 posts, over its 50). The groups take about as long as each other.
FAULTS_A = pytest.mark.xdist_group("faults-a")
FAULTS_B = pytest.mark.xdist_group("faults-b")


def webhook_ids(receiver: Receiver) -> Counter:
    """How often the receiver got (with a 2xx answer) each ``webhook-id``."""
    return Counter(r.headers["webhook-id"] for r in list(receiver.delivered))


class RedisServer:
    """The test's own redis-server, which the test may stop, freeze, resume and restart."""

    def __init__(self) -> None:
        self.server: EmbeddedRedis = start_redis(directory=tempfile.mkdtemp(prefix="durian-fault-redis-"))

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def pid(self) -> int:
        return self.server.process.pid

    def stop(self) -> None:
        """Shut down cleanly (SIGTERM: Redis flushes its AOF) and wait until the port is closed."""
        self.server.stop()

    def restart(self) -> None:
        """Start again on the same port and directory: the AOF brings the data back."""
        self.server = start_redis(port=self.server.port, directory=self.server.directory)

    def freeze(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def close(self) -> None:
        try:
            self.thaw()
        except ProcessLookupError:
            pass
        self.server.stop()
        shutil.rmtree(self.server.directory, ignore_errors=True)


class WorkerProcess:
    """``python -m dramatiq django_dramatiq.setup durian.tasks`` in its own process group."""

    def __init__(
        self, redis_url: str, log_dir: str, threads: int = 8, settings_module: str = WORKER_SETTINGS, **env_vars: str
    ) -> None:
        env = {
            **os.environ,
            **env_vars,
            "DJANGO_SETTINGS_MODULE": settings_module,
            "REDIS_URL": redis_url,
            "DURIAN_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
            "PYTHONPATH": str(ROOT),
        }
        self.log_path = os.path.join(log_dir, f"worker-{time.monotonic_ns()}.log")
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()/kill()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dramatiq", "django_dramatiq.setup", "durian.tasks",
             "--processes", "1", "--threads", str(threads)],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL the whole worker: its main process and its worker process, no clean-up at all."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            # To the main process only: it passes one SIGTERM on to its worker process (a second one,
            # from a signal to the whole group, would make that exit at once, without cleaning up).
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def pids(self) -> list[int]:
        """Its processes: the main one and the worker process it forked (one process group)."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()  # state, ppid, pgrp, ...
                except OSError:
                    continue
                if int(fields[2]) == self.process.pid:
                    found.append(int(entry.name))
        return found

    def ports_connected_to(self, port: int) -> set[int]:
        """The local ports of its open TCP connections to ``port`` (from /proc: its sockets' inodes,
        looked up in the kernel's TCP tables)."""
        inodes = set()
        for pid in self.pids():
            try:
                links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
            except OSError:  # it exited meanwhile
                continue
            inodes |= {link[len("socket:[") : -1] for link in links if link.startswith("socket:[")}
        ports = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                local, remote, inode = (line.split()[i] for i in (1, 2, 9))
                if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == port:
                    ports.add(int(local.rsplit(":", 1)[1], 16))
        return ports

    def ready(self) -> bool:
        """Whether the worker process booted and its stream consumer runs (said at the top of its log)."""
        with open(self.log_path, "rb") as f:
            head = f.read(65536).decode(errors="replace")
        return "stream consumer" in head and "ready for action" in head

    def log(self) -> str:
        return Path(self.log_path).read_text(errors="replace")[-4000:]

    def complaints(self, limit: int = 20) -> str:
        """The worker's WARNING and ERROR log lines, each kind counted (timestamps and pids left out)."""
        lines = Path(self.log_path).read_text(errors="replace").splitlines()
        kinds = Counter(
            re.sub(r"\d+", "N", line.split("] ", 4)[-1])[:200]
            for line in lines
            if "[WARNING]" in line or "[ERROR]" in line
        )
        return "\n".join(f"{n:6d} {kind}" for kind, n in kinds.most_common(limit)) or "(none)"

    def entries_read(self) -> int | None:
        """How many stream entries its consumer handed on (said in the log when it stopped), if it did."""
        found = re.findall(
            r"stream consumer \S+ stopped after (\d+) entries", Path(self.log_path).read_text(errors="replace")
        )
        return sum(int(n) for n in found) if found else None


class Cluster:
    """The test's Redis server and worker processes."""

    def __init__(self) -> None:
        self.redis = RedisServer()
        self.log_dir = tempfile.mkdtemp(prefix="durian-fault-logs-")
        self.workers: list[WorkerProcess] = []

    def start_worker(self, threads: int = 8, wait: bool = True, **options: str) -> WorkerProcess:
        """Start a worker process; by default wait until it is ready and its stream consumer runs.

        ``options`` go to ``WorkerProcess`` (``settings_module``, environment variables)."""
        worker = WorkerProcess(self.redis.url, self.log_dir, threads, **options)
        self.workers.append(worker)
        if wait:
            try:
                wait_until(worker.ready, 60, "the worker to boot", every=0.1)
            except AssertionError:
                raise AssertionError(f"worker did not start:\n{worker.log()}") from None
        return worker

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        for worker in self.workers:  # shown by pytest when the test failed: what the workers complained of
            print(f"--- {worker.log_path}: its warnings and errors, counted")
            print(worker.complaints())
        self.redis.close()
        if not os.environ.get("DURIAN_FAULT_KEEP_LOGS"):  # set it to read the workers' logs afterwards
            shutil.rmtree(self.log_dir, ignore_errors=True)


@pytest.fixture
def cluster(settings, transactional_db):
    """An own redis-server (durian in this process points at it) and a place for worker processes."""
    c = Cluster()
    for name, value in FAULT_SETTINGS.items():
        setattr(settings, name, value)
    settings.DURIAN_REDIS_URL = c.redis.url
    durian_connection.reset()
    try:
        yield c
    finally:
        c.close()
        durian_connection.reset()


def save_people(count: int, per_transaction: int = 500, prefix: str = "p") -> set[str]:
    """Create ``count`` people (one ``person`` event each), ``per_transaction`` per transaction; their names."""
    from django.db import transaction

    for start in range(0, count, per_transaction):
        with transaction.atomic():
            for i in range(start, min(count, start + per_transaction)):
                Person.objects.create(name=f"{prefix}{i}", address="1 Main St", secret="s")
    return {f"{prefix}{i}" for i in range(count)}


def names(receiver: Receiver) -> set[str]:
    """The payload names of the events the receiver got (with a 2xx answer)."""
    return {r.json()["name"] for r in list(receiver.delivered)}


@dataclass
class Tally:
    """What the receiver ended with: distinct webhook-ids, repeats, how long it took, and (when the
    test said which events it saved) the saved events it never got and the events it got unsaved."""

    events: int
    received: int
    duplicates: int
    seconds: float
    missing: frozenset[str] = frozenset()
    unexpected: frozenset[str] = frozenset()

    @property
    def lost(self) -> int:
        return max(self.events - self.received, len(self.missing))

    def assert_complete(self, max_duplicates: int = 0) -> None:
        """Every saved event arrived, nothing else did, and at most ``max_duplicates`` POSTs repeated one."""
        assert not self.missing, f"{len(self.missing)} saved event(s) never arrived, e.g. {sorted(self.missing)[:5]}"
        assert not self.unexpected, f"events nobody saved arrived: {sorted(self.unexpected)[:5]}"
        assert self.lost == 0
        assert self.duplicates <= max_duplicates, f"{self.duplicates} duplicate POSTs (at most {max_duplicates})"


def await_all(
    receiver: Receiver,
    events: int,
    timeout: float = 300,
    what: str = "",
    saved: Iterable[str] | None = None,
    workers_running: bool = True,
) -> Tally:
    """Wait until the receiver holds ``events`` distinct webhook-ids (and, given the ``saved`` payload
    names, every one of them); count them, their repeats, and the names missing or unexpected."""
    expected = set(saved) if saved is not None else None
    started = time.monotonic()

    def arrived() -> bool:
        return len(webhook_ids(receiver)) >= events and (expected is None or expected <= names(receiver))

    try:
        wait_until(arrived, timeout, what or f"all {events} events", every=0.1)
    except AssertionError as exc:
        got = names(receiver)
        lacking = sorted(expected - got)[:5] if expected is not None else []
        raise AssertionError(
            f"{exc}: {len(webhook_ids(receiver))} distinct arrived ({len(receiver.requests)} requests), "
            f"e.g. missing {lacking}; still on the way: {pipeline_state()}"
        ) from None
    took = time.monotonic() - started
    if workers_running:  # else nothing can arrive late
        wait_until(nothing_in_flight, 300, "the outbox, the stream's pending entries and Dramatiq's queues to empty")
    ids = webhook_ids(receiver)
    got = names(receiver)
    missing = frozenset(expected - got) if expected is not None else frozenset()
    unexpected = frozenset(got - expected) if expected is not None else frozenset()
    return Tally(events, len(ids), sum(ids.values()) - len(ids), took, missing, unexpected)


def report(name: str, tally: Tally | None = None, **numbers: object) -> None:
    """Print the measured numbers of a fault test (run pytest with ``-s`` to see them)."""
    if tally is not None:
        numbers = {"events": tally.events, "lost": tally.lost, "duplicates": tally.duplicates, **numbers}
    line = ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in numbers.items())
    print(f"\n[fault] {name}: {line}")
    path = os.environ.get("DURIAN_FAULT_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(f"{name}: {line}\n")
