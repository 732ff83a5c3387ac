"""durian's benchmark against django-webhook: ``python bench/run.py [--quick|--smoke] [--no-peer]``.

It starts its own Redis (``durian.embedded``), one receiver process shared by every system
(``bench/receiver.py``), real worker processes (Dramatiq for durian, Celery for the peer), and
drives each system through ``bench/driver.py`` in the system's own interpreter. The peer,
django-webhook with Celery, is installed into ``bench/.peer-venv`` on first use.

It prints a table, and writes ``bench/results/<timestamp>.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

PEER_VENV = os.path.join(HERE, ".peer-venv")
PEER_REQUIREMENTS = ["django-webhook==0.0.15", "celery[redis]>=5.3,<6", "Django>=4.2,<6", "psycopg[binary]>=3.1"]
PG = {"host": os.environ.get("PGHOST", "127.0.0.1"), "port": int(os.environ.get("PGPORT", "5432")),
      "user": os.environ.get("PGUSER", "postgres")}  # fmt: skip

TARGETS = {
    "throughput_per_process": 1000.0,  # deliveries/s per worker process
    "throughput_vs_peer": 3.0,
    "p99_ms": 100.0,
    "tx1000_round_trips": 5,  # "a handful"
    "overhead_vs_peer": 0.5,
    "fanout_10000_ms": 2.0,
    "rss_mb": 150.0,
    "slow_per_process": 500.0,  # deliveries/s per worker process to a receiver answering in 100 ms
    "slow_vs_peer": 6.0,
    "noisy_factor": 1.5,  # healthy listener with black holes beside it: <= 1.5x alone + 2 s
    "noisy_slack_s": 2.0,
    "ordered_per_s": 50.0,  # deliveries/s to one ordered listener whose receiver answers in ~1 ms
    "cpu_ms_per_delivery": 1.0,  # worker CPU per delivery, 1 listener answering at once, 1 process
    "redis_commands_per_delivery": 3.0,
    "in_flight_share": 0.8,  # mean requests in flight / min(DELIVERY_CONCURRENCY, the listeners' caps)
    "capped_per_s": 400.0,  # one listener with max_in_flight=64 answering in 100 ms, 1 process
}
#: The listener cap of the "capped" scenario: one listener at 100 ms with its own max_in_flight.
CAPPED_MAX_IN_FLIGHT = 64

#: The ordered scenario's retry schedule (s): a failed first attempt is retried soon, as a site would set
#: for an endpoint that fails now and then.
ORDERED_RETRY_SCHEDULE = [0.02, 0.1, 0.5, 1, 2]


@dataclass
class Profile:
    """How much work each phase does."""

    save_count: int
    save_rounds: int
    throughput_deliveries: dict[str, int]  # per system: deliveries per configuration
    listeners: tuple[int, ...]
    processes: tuple[int, ...]
    latency_rate: float
    latency_events: int
    fanout_sizes: list[int]
    fanout_events: int
    threads: int = 8
    stall_seconds: float = 20.0
    slow_deliveries: dict[str, int] = field(default_factory=lambda: {"durian": 4000, "peer": 400})
    slow_listeners: int = 10
    noisy_events: int = 300
    noisy_stall: float = 30.0
    ordered_events: int = 200
    bulk_rows: int = 10_000  # rows of the change-tracking and bulk update() measures
    tracing_deliveries: int = 20_000  # deliveries per mode and round of the tracing measure


PROFILES = {
    "full": Profile(100, 12, {"durian": 8000, "peer": 600}, (1, 10), (1, 2), 200.0, 1200, [10, 1000, 10000], 2000),
    "quick": Profile(100, 6, {"durian": 4000, "peer": 300}, (1, 10), (1, 2), 200.0, 600, [10, 1000, 10000], 500),
    "smoke": Profile(10, 2, {"durian": 40, "peer": 20}, (1,), (1,), 50.0, 20, [10, 100], 20, threads=2,
                     stall_seconds=30.0, slow_deliveries={"durian": 40, "peer": 20}, slow_listeners=2,
                     noisy_events=20, noisy_stall=20.0, bulk_rows=500, ordered_events=20,
                     tracing_deliveries=400),
}  # fmt: skip


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- processes -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def peak_rss_mb(pids: list[int]) -> dict[int, float]:
    """Peak resident memory (VmHWM) of each process, in MB."""
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        out[pid] = int(line.split()[1]) / 1024
        except OSError:
            pass
    return out


class Workers:
    """Worker processes of one system, started in their own process group."""

    def __init__(self, commands: list[list[str]], env: dict[str, str], logfile: str) -> None:
        self.log = open(logfile, "ab")
        self.procs = [
            subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=self.log, stderr=self.log, start_new_session=True)
            for cmd in commands
        ]

    def worker_rss(self) -> dict[str, float]:
        """Peak RSS of the processes that do the work (dramatiq's children; each celery process)."""
        per: dict[int, float] = {}
        for p in self.procs:
            tree = descendants(p.pid)
            rss = peak_rss_mb(tree)
            workers = {pid: mb for pid, mb in rss.items() if pid != p.pid} or rss
            per.update(workers if len(tree) > 1 else rss)
        return {"max_mb": max(per.values(), default=0.0), "total_mb": sum(per.values())}

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs)

    def stop(self) -> None:
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.log.close()


class Receiver:
    def __init__(self, logfile: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(logfile, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "receiver.py"), str(self.port)], stdout=self.log, stderr=self.log
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                self.stats()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            return json.loads(r.read() or b"null")

    def stats(self, tokens: bool = False) -> dict[str, Any]:
        return self._get("/_stats?tokens" if tokens else "/_stats")

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(self.url + "/_reset", data=b"", method="POST"), timeout=10)

    def wait_for(self, count: int, stall: float, workers: Workers | None = None) -> dict[str, Any]:
        """Wait until ``count`` requests arrived, or nothing arrived for ``stall`` seconds."""
        last_count, last_change = -1, time.monotonic()
        while True:
            s = self.stats()
            if s["distinct"] >= count:
                return s
            if s["distinct"] != last_count:
                last_count, last_change = s["distinct"], time.monotonic()
            elif time.monotonic() - last_change > stall:
                return s
            if workers is not None and not workers.alive():
                return s
            time.sleep(0.02)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


# -- systems ---------------------------------------------------------------------------------------


@dataclass
class System:
    name: str
    python: str
    settings: str
    env: dict[str, str] = field(default_factory=dict)

    def environ(self, db: Database) -> dict[str, str]:
        env = {**os.environ, **self.env, **db.env(self.name)}
        env["DJANGO_SETTINGS_MODULE"] = self.settings
        env["PYTHONPATH"] = ROOT
        return env

    def drive(self, db: Database, command: str, **args: Any) -> Any:
        cmd = [self.python, os.path.join(HERE, "driver.py"), self.name, command, json.dumps(args)]
        done = subprocess.run(cmd, env=self.environ(db), cwd=ROOT, capture_output=True, text=True, timeout=900)
        if done.returncode:
            raise RuntimeError(f"{self.name} {command} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def worker_commands(self, processes: int, threads: int) -> list[list[str]]:
        if self.name == "durian":
            return [
                [self.python, "-m", "dramatiq", "django_dramatiq.setup", "durian.tasks",
                 "--processes", str(processes), "--threads", str(threads), "--path", ROOT]
            ]  # fmt: skip
        return [
            [self.python, "-m", "celery", "-A", "bench.peer.celery_app", "worker", "-P", "threads",
             "-c", str(threads), "-n", f"peer{i}@bench", "-l", "warning",
             "--without-gossip", "--without-mingle", "--without-heartbeat"]
            for i in range(processes)
        ]  # fmt: skip


@dataclass
class Database:
    vendor: str  # "sqlite" or "postgres"
    directory: str

    def env(self, system: str) -> dict[str, str]:
        if self.vendor == "postgres":
            return {"BENCH_DB": "postgres", "BENCH_PG_NAME": pg_name(system), "PGHOST": PG["host"],
                    "PGPORT": str(PG["port"]), "PGUSER": PG["user"]}  # fmt: skip
        return {"BENCH_DB": "sqlite", "BENCH_SQLITE": os.path.join(self.directory, f"{system}.sqlite3")}


def postgres_answers() -> str:
    """'' when PostgreSQL on 127.0.0.1:5432 accepts us, else the reason it does not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(host=PG["host"], port=PG["port"], user=PG["user"], dbname="test", connect_timeout=2):
            return ""
    except Exception as exc:
        return f"PostgreSQL unavailable ({type(exc).__name__}: {str(exc).strip()[:120]})"


def pg_name(system: str) -> str:
    """This run's PostgreSQL database of ``system``: per run, so that runs side by side never drop
    each other's database."""
    return f"bench_{system}_{os.getpid()}"


def recreate_pg_databases(names: list[str]) -> None:
    import psycopg

    with psycopg.connect(host=PG["host"], port=PG["port"], user=PG["user"], dbname="test", autocommit=True) as c:
        for name in names:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            c.execute(f'CREATE DATABASE "{name}"')


def drop_pg_databases(names: list[str]) -> None:
    import psycopg

    with (
        contextlib.suppress(Exception),
        psycopg.connect(host=PG["host"], port=PG["port"], user=PG["user"], dbname="test", autocommit=True) as c,
    ):
        for name in names:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def ensure_peer_venv() -> str:
    """The peer's interpreter, installing django-webhook and Celery into bench/.peer-venv once."""
    python = os.path.join(PEER_VENV, "bin", "python")
    marker = os.path.join(PEER_VENV, ".installed")
    wanted = "\n".join(PEER_REQUIREMENTS)
    if os.path.exists(marker) and open(marker).read() == wanted:
        return python
    log(f"installing the peer into {PEER_VENV} ({', '.join(PEER_REQUIREMENTS)})")
    shutil.rmtree(PEER_VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", PEER_VENV], check=True)
    done = subprocess.run([python, "-m", "pip", "install", "-q", *PEER_REQUIREMENTS], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"pip install failed: {done.stderr.strip()[-500:]}")
    with open(marker, "w") as f:
        f.write(wanted)
    return python


# -- phases ----------------------------------------------------------------------------------------


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushall()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of ``pids`` so far."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return total


def commandstats(url: str) -> dict[str, int]:
    """Calls of each Redis command since the server started (``INFO commandstats``)."""
    import redis

    stats = redis.Redis.from_url(url).info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


#: Commands left out of "Redis commands per delivery": the producer's and the measurement's own.
NOT_DELIVERY_COMMANDS = {"xadd", "info", "multi", "exec"}


def command_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) - before.get(k, 0) > 0}


def machine_probe(url: str, posts: int = 3000) -> float:
    """How fast this machine is now: CPU (µs) per keep-alive POST of a bare ``http.client`` loop to
    the benchmark's receiver. The shared machine's speed drifts by half within an hour; this puts a
    number on the hour a run was made in."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    body, headers = b'{"name": "probe"}', {"Content-Type": "application/json"}
    for _ in range(200):  # warm up
        conn.request("POST", "/probe", body, headers)
        conn.getresponse().read()
    started = time.process_time()
    for _ in range(posts):
        conn.request("POST", "/probe", body, headers)
        conn.getresponse().read()
    conn.close()
    return (time.process_time() - started) / posts * 1e6


def throughput_run(system: System, db: Database, receiver: Receiver, redis_url: str, prof: Profile,
                   listeners: int, processes: int, logfile: str, path: str = "",
                   deliveries: int | None = None, max_in_flight: int | None = None) -> dict[str, Any]:  # fmt: skip
    """How fast fresh workers drain a committed burst: deliveries per second, first to last receipt.

    The burst is committed while no worker runs (transactions of 100 saves), so the figure is the
    workers' and not the producer's. Measured alongside: the workers' CPU time per delivery and
    Redis commands per delivery (``INFO commandstats``), both less the idle rate measured after the
    burst (the stream consumer's polling), and, for the slow receiver, requests in flight.
    """
    flush_redis(redis_url)
    extra = {"max_in_flight": max_in_flight} if max_in_flight and system.name == "durian" else {}
    system.drive(db, "listeners", count=listeners, url=receiver.url + path, **extra)
    events = max(1, (deliveries or prof.throughput_deliveries[system.name]) // listeners)
    produced = system.drive(db, "produce", count=events, batch=100, prefix="t")
    receiver.reset()
    workers = Workers(system.worker_commands(processes, prof.threads), system.environ(db), logfile)
    try:
        deadline = time.monotonic() + 60
        while receiver.stats()["count"] == 0:
            if time.monotonic() > deadline or not workers.alive():
                raise RuntimeError(f"{system.name} workers delivered nothing within 60 s (see {logfile})")
            time.sleep(0.01)
        pids = [pid for p in workers.procs for pid in descendants(p.pid)]
        cpu_start, count_start, started = cpu_seconds(pids), receiver.stats()["distinct"], time.monotonic()
        cmd_start = commandstats(redis_url)
        got = receiver.wait_for(events * listeners, stall=prof.stall_seconds, workers=workers)
        cpu, cmd_end, busy = cpu_seconds(pids) - cpu_start, commandstats(redis_url), time.monotonic() - started
        time.sleep(0.5)  # the tail of the work settles, then the idle rate
        idle_cpu, idle_cmd, idle_start = cpu_seconds(pids), commandstats(redis_url), time.monotonic()
        time.sleep(2.0)
        idle_seconds = time.monotonic() - idle_start
        idle_cpu = (cpu_seconds(pids) - idle_cpu) / idle_seconds
        idle_cmds = command_delta(idle_cmd, commandstats(redis_url))
        rss = workers.worker_rss()
    finally:
        workers.stop()
    elapsed = max(1e-6, got["last"] - got["first"])
    done = max(1, got["distinct"] - count_start)
    commands = command_delta(cmd_start, cmd_end)
    per_command = {
        k: round(max(0.0, v - idle_cmds.get(k, 0) / idle_seconds * busy) / done, 3)
        for k, v in commands.items()
        if k not in NOT_DELIVERY_COMMANDS
    }
    per_command = {k: v for k, v in sorted(per_command.items(), key=lambda kv: -kv[1]) if v >= 0.005}
    return {
        "listeners": listeners,
        "processes": processes,
        "expected": events * listeners,
        "delivered": got["distinct"],  # distinct events per listener: duplicates do not count
        "posts": got["count"],
        "duplicates": got["count"] - got["distinct"],
        "seconds": elapsed,
        "deliveries_per_s": got["distinct"] / elapsed,
        "per_process": got["distinct"] / elapsed / processes,
        "worker_cpu_ms_per_delivery": max(0.0, cpu - idle_cpu * busy) * 1000 / done,
        "worker_cpu_ms_per_delivery_gross": cpu * 1000 / done,
        "redis_commands_per_delivery": round(sum(per_command.values()), 2),
        "redis_commands": per_command,
        "mean_in_flight": got.get("busy_seconds", 0.0) / elapsed,
        "produce_seconds": produced["end"] - produced["start"],
        "rss_max_mb": rss["max_mb"],
        "rss_total_mb": rss["total_mb"],
        "max_in_flight": got.get("max_in_flight", 0),
    }


def noisy_run(system: System, db: Database, receiver: Receiver, redis_url: str, prof: Profile, holes: int,
              logfile: str) -> dict[str, Any]:  # fmt: skip
    """A healthy listener beside ``holes`` black-hole listeners on the same hook: its time to get all.

    The events are committed while no worker runs; the time runs from the workers' start (their
    boot, measured alone, is subtracted) to the healthy receiver's last receipt.
    """
    flush_redis(redis_url)
    system.drive(db, "listeners", count=1, url=receiver.url, holes=holes)
    system.drive(db, "produce", count=prof.noisy_events, batch=100, prefix="n")
    receiver.reset()
    workers = Workers(system.worker_commands(1, prof.threads), system.environ(db), logfile)
    try:
        got = receiver.wait_for(prof.noisy_events, stall=prof.noisy_stall + 30, workers=workers)
        if got["count"] < prof.noisy_events:  # stalled: how far it got after the stall allowance
            got = receiver.stats()
    finally:
        workers.stop()
    elapsed = got["last"] - got["first"] if got["count"] else None
    return {"holes": holes, "events": prof.noisy_events, "delivered": got["count"], "seconds": elapsed,
            "hole_attempts": got.get("hole_hits", 0)}  # fmt: skip


def ordered_run(system: System, db: Database, receiver: Receiver, redis_url: str, prof: Profile,
                logfile: str) -> dict[str, Any]:  # fmt: skip
    """One ordered listener, its receiver failing the first attempt of every 5th event (``/flaky``).

    The events are committed while no worker runs (transactions of 100). Reports deliveries/s from
    the first receipt to the last, and whether the first successful receipt of each event came in
    commit order.
    """
    flush_redis(redis_url)
    system.drive(db, "listeners", count=1, url=receiver.url + "/flaky", ordered=True)
    events = prof.ordered_events
    system.drive(db, "produce", count=events, batch=100, prefix="o")
    receiver.reset()
    env = {**system.environ(db), "BENCH_DURIAN_RETRY_SCHEDULE": json.dumps(ORDERED_RETRY_SCHEDULE)}
    workers = Workers(system.worker_commands(1, prof.threads), env, logfile)
    try:
        got = receiver.wait_for(events, stall=prof.stall_seconds, workers=workers)
        tokens = receiver.stats(tokens=True)["tokens"]
    finally:
        workers.stop()
    first: list[str] = []
    for token, _ in tokens:
        if token not in first:
            first.append(token)
    elapsed = max(1e-6, got["last"] - got["first"])
    return {
        "events": events,
        "delivered": got["distinct"],
        "duplicates": got["count"] - got["distinct"],
        "first_attempts_failed": got.get("flaky_failures", 0),
        "in_commit_order": first == [f"o{i}" for i in range(events)],
        "seconds": elapsed,
        "deliveries_per_s": got["distinct"] / elapsed,
    }


def latency_run(system: System, db: Database, receiver: Receiver, redis_url: str, prof: Profile,
                logfile: str) -> dict[str, Any]:  # fmt: skip
    """Commit-to-receipt latency at a fixed offered rate, one listener, one worker process."""
    flush_redis(redis_url)
    system.drive(db, "listeners", count=1, url=receiver.url)
    workers = Workers(system.worker_commands(1, prof.threads), system.environ(db), logfile)
    try:
        receiver.reset()
        system.drive(db, "produce", count=1, batch=1, prefix="warm")
        if receiver.wait_for(1, stall=60, workers=workers)["distinct"] < 1:
            raise RuntimeError(f"{system.name} workers delivered nothing within 60 s (see {logfile})")
        time.sleep(1.0)
        receiver.reset()
        sent = system.drive(db, "paced", count=prof.latency_events, rate=prof.latency_rate, prefix="p")
        receiver.wait_for(prof.latency_events, stall=prof.stall_seconds, workers=workers)
        got = receiver.stats(tokens=True)
    finally:
        workers.stop()
    received = {}
    for token, at in got["tokens"]:
        received.setdefault(token, at)
    lat = sorted((received[t] - c) * 1000 for t, c in sent["commits"].items() if t in received)
    missing = len(sent["commits"]) - len(lat)

    def pct(p: float) -> float | None:
        if not lat or missing > len(sent["commits"]) * (1 - p / 100):
            return None  # too many never arrived to state this percentile
        return lat[min(len(lat) - 1, int(round(p / 100 * len(sent["commits"]))) - 1)]

    return {
        "offered_per_s": prof.latency_rate,
        "achieved_offer_per_s": len(sent["commits"]) / max(1e-6, sent["end"] - sent["start"]),
        "events": len(sent["commits"]),
        "received": len(lat),
        "missing": missing,
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "max_ms": lat[-1] if lat else None,
    }


# -- report ----------------------------------------------------------------------------------------


def fmt(value: Any, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value}{unit}"


def ratio(a: Any, b: Any, digits: int = 1) -> str:
    if not a or not b:
        return "n/a"
    return f"{a / b:.{digits}f}x"


def table(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """Rows of (measure, durian, django-webhook, durian vs peer, target)."""
    d, p = results["durian"], results.get("peer") or {}
    rows = []
    for vendor, save in d.get("save", {}).items():
        ps = p.get("save", {}).get(vendor, {})
        rows.append((f"create() hook off/on, {vendor} (ms)",
                     f"{save['create_off_ms']:.3f} / {save['create_on_ms']:.3f}",
                     f"{ps['create_off_ms']:.3f} / {ps['create_on_ms']:.3f}" if ps else "n/a", "", ""))  # fmt: skip
        rows.append((f"save overhead, {vendor}: ratio on/off",
                     f"{save['ratio']:.2f}x (+{save['overhead_ms']:.3f} ms)",
                     f"{ps['ratio']:.2f}x (+{ps['overhead_ms']:.3f} ms)" if ps else "n/a",
                     ratio(save["overhead_ms"], ps.get("overhead_ms"), 2),
                     f"overhead <= {TARGETS['overhead_vs_peer']}x peer's"))  # fmt: skip
        rows.append((f"Redis round trips, 1,000 saves in 1 tx ({vendor})",
                     str(save["tx1000_round_trips"]), str(ps["tx1000_round_trips"]) if ps else "n/a", "",
                     f"<= {TARGETS['tx1000_round_trips']}"))  # fmt: skip
    for key, run in d.get("throughput", {}).items():
        prun = p.get("throughput", {}).get(key)
        rows.append((f"throughput, {run['listeners']} listener(s), {run['processes']} process(es) (deliveries/s)",
                     f"{run['deliveries_per_s']:,.0f} ({run['per_process']:,.0f}/process)"
                     + ("" if run["delivered"] == run["expected"] else f" [{run['delivered']}/{run['expected']}]"),
                     (f"{prun['deliveries_per_s']:,.0f}"
                      + ("" if prun["delivered"] == prun["expected"] else f" [{prun['delivered']}/{prun['expected']}]"))
                     if prun else "n/a",
                     ratio(run["deliveries_per_s"], prun and prun["deliveries_per_s"]),
                     f">= {TARGETS['throughput_per_process']:,.0f}/process, >= {TARGETS['throughput_vs_peer']:.0f}x"))  # fmt: skip
    one = d.get("throughput", {}).get("1_listeners_1_proc")
    pone = p.get("throughput", {}).get("1_listeners_1_proc") or {}
    if one and "redis_commands_per_delivery" in one:  # results of runs before these rows have neither
        rows.append(("worker CPU per delivery (ms; 1 listener, 1 process, less the idle rate)",
                     f"{one['worker_cpu_ms_per_delivery']:.2f}", fmt(pone.get("worker_cpu_ms_per_delivery"), "", 2),
                     ratio(pone.get("worker_cpu_ms_per_delivery"), one["worker_cpu_ms_per_delivery"]) + " less"
                     if pone else "", f"<= {TARGETS['cpu_ms_per_delivery']}"))  # fmt: skip
        rows.append(("Redis commands per delivery (1 listener, 1 process; XADD and idle polling left out)",
                     f"{one['redis_commands_per_delivery']:.2f}", fmt(pone.get("redis_commands_per_delivery"), "", 2),
                     "", f"<= {TARGETS['redis_commands_per_delivery']}"))  # fmt: skip
    cpu = [r["worker_cpu_ms_per_delivery"] for r in d.get("throughput", {}).values()]
    pcpu = [r["worker_cpu_ms_per_delivery"] for r in p.get("throughput", {}).values()]
    if cpu:
        rows.append(("worker CPU per delivery (ms, median of the throughput runs)", f"{statistics.median(cpu):.2f}",
                     f"{statistics.median(pcpu):.2f}" if pcpu else "n/a",
                     ratio(statistics.median(pcpu), statistics.median(cpu)) + " less" if pcpu else "", ""))  # fmt: skip
    lat, plat = d.get("latency"), p.get("latency")
    if lat:

        def lat_text(x: dict[str, Any]) -> str:
            miss = f" ({x['missing']} missing)" if x["missing"] else ""
            slow = x["achieved_offer_per_s"] < 0.9 * x["offered_per_s"]
            offer = f" (its saves offered only {x['achieved_offer_per_s']:.0f} ev/s)" if slow else ""
            return f"{fmt(x['p50_ms'], ' ms', 1)} / {fmt(x['p99_ms'], ' ms', 1)}{miss}{offer}"

        rows.append((f"latency p50 / p99 at {lat['offered_per_s']:.0f} ev/s", lat_text(lat),
                     lat_text(plat) if plat else "n/a", ratio(plat and plat["p99_ms"], lat["p99_ms"]) + " (p99)"
                     if plat else "", f"p99 <= {TARGETS['p99_ms']:.0f} ms"))  # fmt: skip
    for n, f in d.get("fanout", {}).items():
        rows.append((f"fan-out per event, {int(n):,} listeners (ms)",
                     f"{f['ms_per_event']:.4f} ({f['matches_per_event']:.1f} matches; full scan {f['naive_ms_per_event']:.3f})",
                     "has no filters", "",
                     f"<= {TARGETS['fanout_10000_ms']} at 10,000" if n == "10000" else ""))  # fmt: skip
    tr = d.get("tracing")
    if tr:  # results of runs before this row have none
        sdk = f" / {tr['sdk_us']:.0f} (+{tr['sdk_us'] - tr['off_us']:.0f})" if "sdk_us" in tr else ""
        rows.append(("tracing work per delivery, CPU (us; OpenTelemetry off / API only / SDK recording)",
                     f"{tr['off_us']:.0f} / {tr['api_us']:.0f} (+{tr['api_us'] - tr['off_us']:.0f}){sdk}",
                     "has no tracing", "", "nothing without OpenTelemetry"))  # fmt: skip
    for vendor, ev in d.get("events", {}).items():
        rows.append((f"change tracking per loaded instance, {vendor} (us, off / on)",
                     f"{ev['load_off_us']:.2f} / {ev['load_on_us']:.2f} (+{ev['tracking_us']:.2f})",
                     "has no change triggers", "", "one cheap step"))  # fmt: skip
        rows.append((f"update() of {ev['rows']:,} rows, {vendor} (ms, plain / HookedManager)",
                     f"{ev['update_plain_ms']:.1f} / {ev['update_hooked_ms']:.1f} "
                     f"({ev['update_hooked_round_trips']} Redis round trip(s))",
                     "sends nothing for update()", ratio(ev["update_hooked_ms"], ev["update_plain_ms"]) + " plain",
                     "1 round trip"))  # fmt: skip
    rows.extend(slow_and_noisy_rows(d, p))
    o = d.get("ordered")
    if o:
        order = "in commit order" if o["in_commit_order"] else "OUT OF ORDER"
        rows.append((f"ordered listener, {o['events']} events, {o['first_attempts_failed']} first attempts failed "
                     f"({order}; deliveries/s)", fmt(o["deliveries_per_s"]), "no ordered listeners", "",
                     f">= {TARGETS['ordered_per_s']:.0f}/s, in order"))  # fmt: skip
    rss = d.get("rss_max_mb")
    if rss:
        rows.append(("worker peak RSS (MB, largest process)", f"{rss:.0f}", fmt(p.get("rss_max_mb"), "", 0), "",
                     f"<= {TARGETS['rss_mb']:.0f}"))  # fmt: skip
    return rows


def slow_and_noisy_rows(d: dict[str, Any], p: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """Rows of the slow-receiver and noisy-neighbour scenarios."""
    rows = []
    for key, run in (d.get("slow") or {}).items():
        peer = (p.get("slow") or {}).get(key) or {}
        rows.append((f"slow receiver (100 ms), {run['listeners']} listeners, {run['processes']} process(es) "
                     "(deliveries/s)", f"{run['deliveries_per_s']:,.0f}", fmt(peer.get("deliveries_per_s")),
                     ratio(run["deliveries_per_s"], peer.get("deliveries_per_s")),
                     f">= {TARGETS['slow_per_process']:,.0f}/process, >= {TARGETS['slow_vs_peer']:.0f}x"))  # fmt: skip
        rows.append((f"  requests in flight, peak / mean ({run['processes']} process(es))",
                     f"{run['max_in_flight']} / {run.get('mean_in_flight', 0):.0f}",
                     f"{peer.get('max_in_flight', 'n/a')} / {fmt(peer.get('mean_in_flight'))}", "",
                     f"mean >= {TARGETS['in_flight_share']:.0%} of min(DELIVERY_CONCURRENCY, caps)"
                     if run["processes"] == 1 else ""))  # fmt: skip
    for run, peer in [((d.get("capped") or {}), (p.get("capped") or {}))]:
        if not run:
            continue
        rows.append((f"slow receiver (100 ms), 1 listener with max_in_flight={run['cap']}, 1 process (deliveries/s)",
                     f"{run['deliveries_per_s']:,.0f}", fmt(peer.get("deliveries_per_s")),
                     ratio(run["deliveries_per_s"], peer.get("deliveries_per_s")),
                     f">= {TARGETS['capped_per_s']:,.0f}/s"))  # fmt: skip
        rows.append(("  requests in flight, peak / mean", f"{run['max_in_flight']} / {run['mean_in_flight']:.0f}",
                     f"{peer.get('max_in_flight', 'n/a')} / {fmt(peer.get('mean_in_flight'))}", "",
                     f"mean >= {TARGETS['in_flight_share']:.0%} of {run['cap']}"))  # fmt: skip
    noisy, peer_noisy = d.get("noisy") or {}, p.get("noisy") or {}

    def took(x: dict[str, Any] | None) -> str:
        if not x:
            return "n/a"
        if x["delivered"] < x["events"]:
            return f"got {x['delivered']}/{x['events']}"
        return f"{x['seconds']:.1f}"

    if noisy:
        alone = (noisy.get("0") or {}).get("seconds")
        target = f"<= {TARGETS['noisy_factor']}x alone + {TARGETS['noisy_slack_s']:.0f} s"
        if alone is not None:
            target += f" ({alone * TARGETS['noisy_factor'] + TARGETS['noisy_slack_s']:.1f} s)"
        for holes in ("0", "3"):
            x, y = noisy.get(holes), peer_noisy.get(holes)
            label = "alone" if holes == "0" else "beside 3 black holes"
            rows.append((f"noisy neighbour: healthy listener, {x['events'] if x else ''} events, {label} (s)",
                         took(x), took(y), "", target if holes == "3" else ""))  # fmt: skip
        x, y = noisy.get("3") or {}, peer_noisy.get("3") or {}
        rows.append(("  attempts to the 3 black holes", str(x.get("hole_attempts", "n/a")),
                     str(y.get("hole_attempts", "n/a")), "", "a handful while their circuits are open"))  # fmt: skip
    return rows


def render(rows: list[tuple[str, ...]]) -> str:
    header = ("measure", "durian", "django-webhook", "durian vs peer", "target")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [line, "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
           line.replace("-", "=")]  # fmt: skip
    for r in rows:
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
        out.append(line)
    return "\n".join(out)


def chart(results: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d, p = results["durian"], results.get("peer") or {}
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    ax = axes[0][0]
    keys = list(d.get("throughput", {}))
    xs = range(len(keys))
    ax.bar([x - 0.2 for x in xs], [d["throughput"][k]["deliveries_per_s"] for k in keys], 0.4, label="durian")
    ax.bar([x + 0.2 for x in xs], [p.get("throughput", {}).get(k, {}).get("deliveries_per_s", 0) for k in keys], 0.4,
           label="django-webhook")  # fmt: skip
    ax.set_xticks(list(xs), [k.replace("_", "\n") for k in keys])
    ax.set_title("end-to-end throughput (deliveries/s)")
    ax.legend()
    ax = axes[0][1]
    labels, on, off = [], [], []
    for system, data in (("durian", d), ("django-webhook", p)):
        for vendor, s in data.get("save", {}).items():
            labels.append(f"{system}\n{vendor}")
            off.append(s["create_off_ms"])
            on.append(s["create_on_ms"])
    ax.bar([i - 0.2 for i in range(len(labels))], off, 0.4, label="no hook")
    ax.bar([i + 0.2 for i in range(len(labels))], on, 0.4, label="one hook")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_title("create() time (ms)")
    ax.legend()
    ax = axes[1][0]
    names, p50, p99 = [], [], []
    for system, data in (("durian", d), ("django-webhook", p)):
        if data.get("latency"):
            names.append(system)
            p50.append(data["latency"]["p50_ms"] or 0)
            p99.append(data["latency"]["p99_ms"] or 0)
    ax.bar([i - 0.2 for i in range(len(names))], p50, 0.4, label="p50")
    ax.bar([i + 0.2 for i in range(len(names))], p99, 0.4, label="p99")
    ax.set_xticks(range(len(names)), names)
    ax.set_yscale("log")
    ax.set_title(f"commit-to-receipt latency (ms) at {PROFILES_USED.latency_rate:.0f} ev/s")
    ax.legend()
    ax = axes[1][1]
    sizes = [int(n) for n in d.get("fanout", {})]
    ax.plot(sizes, [d["fanout"][str(n)]["ms_per_event"] for n in sizes], "o-", label="durian (indexed)")
    ax.plot(sizes, [d["fanout"][str(n)]["naive_ms_per_event"] for n in sizes], "o--", label="linear scan")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title("fan-out cost per event (ms) by listeners")
    ax.legend()
    fig.suptitle(f"durian vs django-webhook — {results['started']}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


PROFILES_USED: Profile = PROFILES["full"]


# -- main ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def infrastructure(workdir: str) -> Iterator[tuple[str, Receiver]]:
    from durian.embedded import start_redis

    redis_server = start_redis(directory=os.path.join(workdir, "redis"))
    receiver = Receiver(os.path.join(workdir, "receiver.log"))
    try:
        yield redis_server.url, receiver
    finally:
        receiver.stop()
        redis_server.stop()


def measure(system: System, dbs: list[Database], work_db: Database, redis_url: str, receiver: Receiver,
            prof: Profile, workdir: str) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {"save": {}, "throughput": {}}
    for db in dbs:
        system.drive(db, "setup")
    for db in dbs:
        log(f"{system.name}: save overhead on {db.vendor}")
        flush_redis(redis_url)
        system.drive(db, "listeners", count=1, url=receiver.url)
        out["save"][db.vendor] = system.drive(db, "save", count=prof.save_count, rounds=prof.save_rounds)
    logfile = os.path.join(workdir, f"{system.name}-workers.log")
    rss = 0.0
    for processes in prof.processes:
        for listeners in prof.listeners:
            log(f"{system.name}: throughput, {listeners} listener(s), {processes} process(es) on {work_db.vendor}")
            run = throughput_run(system, work_db, receiver, redis_url, prof, listeners, processes, logfile)
            out["throughput"][f"{listeners}_listeners_{processes}_proc"] = run
            rss = max(rss, run["rss_max_mb"])
    for processes in prof.processes:
        n = prof.slow_listeners
        log(f"{system.name}: slow receiver (100 ms), {n} listeners, {processes} process(es)")
        run = throughput_run(system, work_db, receiver, redis_url, prof, n, processes, logfile, path="/slow",
                             deliveries=prof.slow_deliveries[system.name])  # fmt: skip
        out.setdefault("slow", {})[f"{processes}_proc"] = run
        rss = max(rss, run["rss_max_mb"])
    log(f"{system.name}: slow receiver (100 ms), 1 listener with max_in_flight={CAPPED_MAX_IN_FLIGHT}, 1 process")
    run = throughput_run(system, work_db, receiver, redis_url, prof, 1, 1, logfile, path="/slow",
                         deliveries=prof.slow_deliveries[system.name], max_in_flight=CAPPED_MAX_IN_FLIGHT)  # fmt: skip
    out["capped"] = {**run, "cap": CAPPED_MAX_IN_FLIGHT}
    for holes in (0, 3):
        log(f"{system.name}: noisy neighbour, {holes} black-hole listener(s)")
        out.setdefault("noisy", {})[str(holes)] = noisy_run(system, work_db, receiver, redis_url, prof, holes, logfile)
    if system.name == "durian":  # the peer has no ordered listeners
        log(f"durian: ordered listener, {prof.ordered_events} events, some first attempts failing")
        out["ordered"] = ordered_run(system, work_db, receiver, redis_url, prof, logfile)
    out["rss_max_mb"] = rss
    log(f"{system.name}: latency at {prof.latency_rate:.0f} events/s")
    out["latency"] = latency_run(system, work_db, receiver, redis_url, prof, logfile)
    if system.name == "durian":
        out["events"] = {}
        for db in dbs:
            log(f"durian: change tracking and bulk update() on {db.vendor}")
            out["events"][db.vendor] = system.drive(db, "events", rows=prof.bulk_rows)
        log("durian: fan-out")
        out["fanout"] = system.drive(work_db, "fanout", sizes=prof.fanout_sizes, events=prof.fanout_events)
        log("durian: tracing cost per delivery (OpenTelemetry off / API only / SDK recording)")
        out["tracing"] = system.drive(work_db, "tracing", deliveries=prof.tracing_deliveries)
    return out


def main(argv: list[str] | None = None) -> int:
    global PROFILES_USED
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="half the work (about a minute and a half)")
    mode.add_argument(
        "--smoke", action="store_true", help="tiny counts, durian only, SQLite only: a check that it runs"
    )
    parser.add_argument("--no-peer", action="store_true", help="measure durian only")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--results", default=os.path.join(HERE, "results"), help="where JSON and PNG go")
    args = parser.parse_args(argv)
    name = "smoke" if args.smoke else "quick" if args.quick else "full"
    prof = PROFILES_USED = PROFILES[name]
    started = datetime.datetime.now(datetime.UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    os.makedirs(args.results, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="durian-bench-")
    results: dict[str, Any] = {"started": started.isoformat(timespec="seconds"), "profile": name,
                               "cpus": os.cpu_count(), "python": sys.version.split()[0], "notes": []}  # fmt: skip

    pg_reason = "skipped (--smoke/--no-postgres)" if args.smoke or args.no_postgres else postgres_answers()
    dbs = [Database("sqlite", workdir)]
    if not pg_reason:
        dbs.append(Database("postgres", workdir))
    else:
        results["notes"].append(f"PostgreSQL: {pg_reason}")
    work_db = dbs[-1]  # workers write delivery records: PostgreSQL when there is one
    results["worker_database"] = work_db.vendor

    durian = System("durian", sys.executable, "bench.settings")
    peer: System | None = None
    if args.smoke or args.no_peer:
        results["notes"].append("django-webhook: not measured (--smoke/--no-peer)")
    else:
        try:
            peer = System("peer", ensure_peer_venv(), "bench.peer.settings")
        except Exception as exc:
            results["notes"].append(f"django-webhook: could not be installed ({exc})")

    pg_names = [pg_name("durian"), pg_name("peer")]
    if not pg_reason:
        recreate_pg_databases(pg_names)
    try:
        with infrastructure(workdir) as (redis_url, receiver):
            os.environ["REDIS_URL"] = redis_url
            probes = [machine_probe(receiver.url)]
            results["durian"] = measure(durian, dbs, work_db, redis_url, receiver, prof, workdir)
            if peer is not None:
                try:
                    results["peer"] = measure(peer, dbs, work_db, redis_url, receiver, prof, workdir)
                except Exception as exc:
                    log(f"the peer failed: {exc}")
                    results["notes"].append(f"django-webhook: failed during the run ({str(exc)[:300]})")
            probes.append(machine_probe(receiver.url))
            results["machine_probe_us"] = probes
            results["notes"].append(
                f"machine speed: {probes[0]:.0f} µs of CPU per keep-alive POST of a bare http.client loop at the "
                f"start, {probes[1]:.0f} µs at the end (the shared machine's speed drifts: compare runs by their "
                "ratios, or by this probe)"
            )
    finally:
        if not pg_reason:
            drop_pg_databases(pg_names)

    rows = table(results)
    results["table"] = rows
    text = render(rows)
    base = os.path.join(args.results, stamp)
    with open(base + ".json", "w") as f:
        json.dump(results, f, indent=2)
    try:
        chart(results, base + ".png")
    except ImportError:
        results["notes"].append("chart skipped: pip install matplotlib (durian[bench])")
    print(text)
    for note in results["notes"]:
        print(f"note: {note}")
    print(f"results: {base}.json" + (f", {base}.png" if os.path.exists(base + ".png") else ""))
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
