"""Where one delivery's worker CPU goes, by stage: ``python bench/budget.py [--deliveries N]``.

Runs the engine's "instant" scenario (``bench/engine.py``: one worker process, one listener whose
receiver answers at once), samples the worker with ``py-spy record --gil`` (the ``bench`` extra)
while it drains the burst, and splits the samples by stage: each sample goes to the innermost
durian (or Dramatiq) frame that names a stage below, so time in redis-py, requests or the
database counts towards the durian code that called it. The shares times the measured CPU per
delivery give each stage's budget in microseconds. py-spy's sampling adds a little CPU of its own.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from bench import engine, run  # noqa: E402

#: Stage: module paths whose frames count towards it (the first stage that matches wins).
STAGES = {
    "fan-out": ["pipeline/fanout", "core/recipients", "core/index", "core/match", "storage/stream", "workers/consumer"],
    "queue": ["pipeline/queue", "dramatiq/", "workers/taken", "workers/middleware", "storage/later"],
    "lease": ["storage/idempotency", "pipeline/deliver"],
    "slot": ["storage/slots"],
    "circuit": ["storage/circuit"],
    "sign": ["core/signing", "core/sealing", "core/payload", "request_parts", "body_of"],
    "POST": ["transport/bounded", "transport/prepared", "transport/ssrf", "core/outcome", "transport/delivery"],
    "record": ["storage/recorder"],
    "log": ["logging/"],
    "settle": ["storage/marks", "storage/health", "storage/metrics", "storage/inflight", "pipeline/attempts",
               "pipeline/policy", "storage/deadletters"],
    "engine": ["pipeline/lanes", "storage/rates"],
}  # fmt: skip


def stage_of(frames: list[str]) -> str:
    for frame in reversed(frames):  # innermost first
        for name, paths in STAGES.items():
            if any(p in frame for p in paths):
                return name
    return "other"


def shares(raw_path: str) -> dict[str, float]:
    """Each stage's share of the samples in a py-spy ``--format raw`` file."""
    counts: collections.Counter[str] = collections.Counter()
    with open(raw_path) as f:
        for line in f:
            line = line.rstrip()
            if line:
                stack, n = line.rsplit(" ", 1)
                counts[stage_of(stack.split(";"))] += int(n)
    total = sum(counts.values()) or 1
    return {name: counts.get(name, 0) / total for name in [*STAGES, "other"]}


def worker_pid(timeout: float = 60) -> int:
    """The Dramatiq worker process (the child of the ``dramatiq`` parent) of this run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mine = f"durian.tasks --processes 1 --threads [0-9]* --path {run.ROOT}$"  # this run's, not another's
        found = subprocess.run(["pgrep", "-f", mine], capture_output=True, text=True)
        pids = sorted(int(p) for p in found.stdout.split())
        if len(pids) >= 2:
            return pids[-1]
        time.sleep(0.1)
    raise RuntimeError("no worker process started")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=12000)
    parser.add_argument("--seconds", type=int, default=6, help="how long py-spy samples")
    args = parser.parse_args(argv)
    raw = os.path.join(tempfile.mkdtemp(prefix="durian-budget-"), "worker.txt")
    pyspy = os.path.join(os.path.dirname(sys.executable), "py-spy")

    def sample() -> None:
        pid = worker_pid()
        time.sleep(3.0)  # past the start: the burst is being drained
        done = subprocess.run([pyspy, "record", *(["--gil"] if not os.environ.get("BUDGET_ONCPU") else []), "-r", "250", "-d", str(args.seconds), "-f", "raw", "-o", raw,
                               "-p", str(pid)], capture_output=True, text=True, check=False)  # fmt: skip
        if done.returncode:
            print(f"py-spy failed: {done.stderr.strip()[-500:]}", file=sys.stderr)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    results: dict = {}
    original = run.throughput_run

    def kept(*a, **kw):  # type: ignore[no-untyped-def]
        results.update(original(*a, **kw))
        return results

    run.throughput_run = kept
    engine.main(["--only", "instant", "--deliveries", str(args.deliveries)])
    sampler.join(60)
    cpu_us = results["worker_cpu_ms_per_delivery"] * 1000
    print(f"\nworker CPU per delivery: {cpu_us:.0f} us (py-spy attached); by stage:")
    for name, share in shares(raw).items():
        print(f"  {name:8} {share:6.1%}  {share * cpu_us:6.0f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
