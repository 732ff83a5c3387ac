"""``python3 dev.py example``: bring the whole example up on one machine and show deliveries.

Starts (or reuses, with ``REDIS_URL``) a Redis server, migrates SQLite, creates the ``demo`` user,
starts a Dramatiq worker (``manage.py rundramatiq``) and the dev server (which also hosts the
receiving view), then runs the README walk-through (``manage.py demo``) and keeps everything up
until Ctrl-C. ``--check`` stops after the walk-through (used by the test suite).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def say(message: str) -> None:
    print(f"\033[1mexample:\033[0m {message}", flush=True)


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
    from durian.embedded import start_redis

    children: list[subprocess.Popen] = []
    redis_server = None
    if not os.environ.get("REDIS_URL"):
        redis_server = start_redis(directory=os.path.join(args.var, "redis"))
        os.environ["REDIS_URL"] = redis_server.url
        say(f"embedded Redis at {redis_server.url} (data in {redis_server.directory})")
    else:
        say(f"using Redis at {os.environ['REDIS_URL']}")
    port = args.port if port_free(args.port) else _free_port()
    os.environ["DURIAN_EXAMPLE_RECEIVER"] = f"http://127.0.0.1:{port}/receiver/"
    manage = [sys.executable, str(ROOT / "manage.py")]
    try:
        subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], check=True)
        subprocess.run([*manage, "demo_user"], check=True)
        say("starting a Dramatiq worker: manage.py rundramatiq --processes 1 --threads 4")
        children.append(subprocess.Popen([*manage, "rundramatiq", "--processes", "1", "--threads", "4"]))
        say(f"starting the web server on http://127.0.0.1:{port}/")
        children.append(subprocess.Popen([*manage, "runserver", f"127.0.0.1:{port}", "--noreload"]))
        wait_http(f"http://127.0.0.1:{port}/receiver/")
        subprocess.run([*manage, "demo"], check=True)
        say(f"home page:  http://127.0.0.1:{port}/   (webhooks received by the example's receiver)")
        say(f"admin:      http://127.0.0.1:{port}/admin/   login demo / demo")
        say(f"webhooks:   http://127.0.0.1:{port}/webhooks/   sign in as demo / demo, or client / client")
        if args.check:
            return 0
        say("save people in the admin and watch the deliveries arrive; Ctrl-C stops everything")
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        for child in reversed(children):
            child.terminate()
        for child in children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
        if redis_server is not None:
            redis_server.stop()
        say("stopped")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
