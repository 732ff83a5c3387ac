"""``dev.py example`` as a person runs it: ``kill`` stops everything it started, a busy port is announced."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .test_example import free_port

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow  # each starts dev.py example: Redis, a worker, the web server


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_example(tmp_path: Path, port: int) -> tuple[subprocess.Popen, list[str]]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env["DURIAN_EXAMPLE_VAR"] = str(tmp_path)
    launcher = subprocess.Popen(
        [sys.executable, str(ROOT / "dev.py"), "example", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 180
    assert launcher.stdout is not None
    while time.monotonic() < deadline:
        line = launcher.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "stops everything" in line:
            # Keep reading, as a terminal does: a full pipe would block the launcher and its children.
            threading.Thread(target=lambda: lines.extend(launcher.stdout), daemon=True).start()
            return launcher, lines
    launcher.kill()
    raise AssertionError("".join(lines[-40:]))


def stopped(launcher: subprocess.Popen, lines: list[str], timeout: float = 60) -> int:
    """The launcher's exit code once it stopped (it was sent SIGTERM); what it said if it did not."""
    try:
        return launcher.wait(timeout)
    except subprocess.TimeoutExpired:
        launcher.kill()
        raise AssertionError(f"still running {timeout:.0f} s after SIGTERM:\n" + "".join(lines[-40:])) from None


def test_sigterm_to_the_example_launcher_stops_every_child_and_frees_the_port(tmp_path):
    port = free_port()
    launcher, lines = start_example(tmp_path, port)
    children = descendants(launcher.pid)
    assert children and port_open(port)
    launcher.send_signal(signal.SIGTERM)
    assert stopped(launcher, lines) == 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (any(alive(p) for p in children) or port_open(port)):
        time.sleep(0.2)
    assert not [p for p in children if alive(p)]
    assert not port_open(port)


def test_a_busy_port_is_announced_with_the_url_used_instead(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        launcher, lines = start_example(tmp_path, taken)
        try:
            text = "".join(lines)
            match = re.search(rf"port {taken} is busy.*using http://127\.0\.0\.1:(\d+)/ instead", text)
            assert match, text
            assert int(match.group(1)) != taken
        finally:
            launcher.send_signal(signal.SIGTERM)
            stopped(launcher, lines)
