"""``python3 dev.py example``: bring the whole example up on one machine and show deliveries.

Starts (or reuses, with ``REDIS_URL``) a Redis server, migrates SQLite, creates the ``demo`` user,
starts a Dramatiq worker (``manage.py rundramatiq``) and the dev server (which also hosts the
receiving view), then runs the README walk-through (``manage.py demo``) and keeps everything up
until Ctrl-C or ``kill`` (SIGTERM, SIGHUP): either stops every child, the worker's processes and the
embedded Redis included. ``--check`` stops after the walk-through (used by the test suite).

The worker serves its Prometheus metrics (``dramatiq_broker(..., prometheus=True)`` in the example's
settings) on port 9191, or on a free port when 9191 is taken; the launcher says which, and how to
point ``manage.py durian_*`` in another terminal at the same Redis.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Dramatiq's Prometheus middleware serves the workers' metrics here unless it is taken.
METRICS_PORT = 9191


def say(message: str) -> None:
    print(f"\033[1mexample:\033[0m {message}", flush=True)


def next_steps(redis_url: str, port: int, metrics_port: int, var: str | None = None) -> list[str]:
    """What the launcher says once everything is up: the pages, the metrics, and how to run commands.

    ``manage.py durian_*`` in another terminal needs the same Redis (and, with ``--var``, the same
    database): without ``REDIS_URL`` it talks to whatever runs on localhost:6379.
    """
    exports = f"export REDIS_URL={redis_url}"
    if var is not None and Path(var).resolve() != (ROOT / "var").resolve():
        exports += f" DURIAN_EXAMPLE_VAR={var}"
    return [
        f"home page:  http://127.0.0.1:{port}/   (webhooks received by the example's receiver)",
        f"admin:      http://127.0.0.1:{port}/admin/   login demo / demo",
        f"webhooks:   http://127.0.0.1:{port}/webhooks/   sign in as demo / demo, or client / client",
        f"metrics:    http://127.0.0.1:{metrics_port}/metrics   the worker's Prometheus endpoint (port {metrics_port})",
        f"commands:   in another terminal, first run   {exports}",
        "            then .venv/bin/python manage.py durian_status (or another durian_* command); "
        "without REDIS_URL they use localhost:6379",
    ]


def port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


class Stop(BaseException):
    """Raised in the launcher by SIGTERM or SIGHUP, like ``KeyboardInterrupt`` by Ctrl-C."""


def _stop(signum: int, frame: object) -> None:
    raise Stop(signal.Signals(signum).name)


def stop_children(children: list[subprocess.Popen], grace: float = 15.0) -> None:
    """Stop each child's whole process group (a worker's own processes too), then wait for them.

    They stop side by side: ``grace`` seconds in all, not per child, before what is still running
    is killed, so Ctrl-C never waits for one child after another.
    """
    for child in reversed(children):
        _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for child in children:
        if child.poll() is None:
            _signal_group(child, signal.SIGKILL)
            child.wait(5)


def _signal_group(child: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(child.pid, signum)
    except ProcessLookupError:
        pass


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="dev.py example")
    parser.add_argument("--port", type=int, default=int(os.environ.get("DURIAN_EXAMPLE_PORT", 8000)))
    parser.add_argument("--check", action="store_true", help="exit after the walk-through's deliveries arrived")
    parser.add_argument("--var", default=os.environ.get("DURIAN_EXAMPLE_VAR", str(ROOT / "var")))
    args = parser.parse_args(argv)

    os.environ["DJANGO_SETTINGS_MODULE"] = "example_project.settings"
    os.environ["DURIAN_EXAMPLE_VAR"] = args.var
    Path(args.var).mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    children: list[subprocess.Popen] = []
    servers: list = []  # the embedded Redis server, stopped last
    for signum in (signal.SIGTERM, signal.SIGHUP):  # run the clean-up below, as Ctrl-C does
        signal.signal(signum, _stop)
    try:
        return _run(args, children, servers)
    except (KeyboardInterrupt, Stop):
        return 0
    finally:
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)  # a second signal must not cut the clean-up short
        stop_children(children)
        for server in servers:
            server.stop()
        say("stopped")


def _run(args: argparse.Namespace, children: list[subprocess.Popen], servers: list) -> int:
    from durian.embedded import start_redis

    if not os.environ.get("REDIS_URL"):
        redis_server = start_redis(directory=os.path.join(args.var, "redis"))
        servers.append(redis_server)
        os.environ["REDIS_URL"] = redis_server.url
        say(f"embedded Redis at {redis_server.url} (data in {redis_server.directory})")
    else:
        say(f"using Redis at {os.environ['REDIS_URL']}")
    port = args.port
    if not port_free(port):
        port = _free_port()
        say(
            f"\033[1;33mport {args.port} is busy\033[0m (another server runs there): "
            f"using http://127.0.0.1:{port}/ instead; pass --port to choose one"
        )
    os.environ["DURIAN_EXAMPLE_RECEIVER"] = f"http://127.0.0.1:{port}/receiver/"
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], check=True)
    subprocess.run([*manage, "demo_user"], check=True)
    metrics_port = METRICS_PORT if port_free(METRICS_PORT) else _free_port()
    say("starting a Dramatiq worker: manage.py rundramatiq --processes 1 --threads 4")
    # each child in its own process group: stopping the group stops what it started, too
    spawn = {"start_new_session": True}
    children.append(
        subprocess.Popen(
            [*manage, "rundramatiq", "--processes", "1", "--threads", "4"],
            env=_metrics_env(args.var, metrics_port),
            **spawn,
        )
    )
    say(f"starting the web server on http://127.0.0.1:{port}/")
    children.append(subprocess.Popen([*manage, "runserver", f"127.0.0.1:{port}", "--noreload"], **spawn))
    wait_http(f"http://127.0.0.1:{port}/receiver/")
    subprocess.run([*manage, "demo"], check=True)
    for line in next_steps(os.environ["REDIS_URL"], port, metrics_port, args.var):
        say(line)
    if args.check:
        return 0
    say("save people in the admin and watch the deliveries arrive; Ctrl-C (or kill) stops everything")
    while True:
        signal.pause()


def _metrics_env(var: str, metrics_port: int) -> dict[str, str]:
    """The worker's environment: its Prometheus endpoint's port, and a fresh directory for its counters
    (prometheus-client's multiprocess files; those of an earlier run would add up)."""
    directory = Path(var) / "prometheus"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return {**os.environ, "dramatiq_prom_port": str(metrics_port), "dramatiq_prom_db": str(directory)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
