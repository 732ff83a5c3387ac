"""The README's first command brings the example up and shows the walk-through's deliveries."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(700)  # a minute on an idle machine; far more on a busy one
def test_dev_py_example_delivers_what_each_walkthrough_listener_asked_for(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env["DURIAN_EXAMPLE_VAR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, str(ROOT / "dev.py"), "example", "--check", "--port", str(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert "embedded Redis" in out
    assert "all 6 deliveries arrived" in out
    delivered = [line for line in out.splitlines() if line.startswith("delivered ")]
    names = sorted(line.split("'name': '")[1].split("'")[0] for line in delivered)
    assert names == ["Ann", "Jane", "Jane", "Joe", "Joe", "Joe"]
    assert "never sent" not in out
    assert "login demo / demo" in out
