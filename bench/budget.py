"""Where one delivery's worker CPU goes, by stage: ``python bench/budget.py [--deliveries N]``.

Runs the engine's "instant" scenario (``bench/engine.py``: one worker process, one listener whose
receiver answers at once) and, while the worker drains the burst:

1. reads each of the worker's threads' CPU time from the kernel (``/proc/<pid>/task``), and names
   the threads with ``py-spy dump``: the CPU of each kind of thread (delivery threads, Dramatiq's
   worker and consumer threads, the stream consumer, the recorder, ...) is exact;
2. samples the worker with ``py-spy record --gil`` (the ``bench`` extra) to split each kind of
   thread's CPU between stages: each sample goes to the innermost durian (or Dramatiq) frame that
   names a stage below, so time in redis-py, urllib3 or the database counts towards the durian
   code that called it.

Samples alone mislead here: ``--gil`` sampling gives Dramatiq's polling threads about half the
samples while the kernel gives them about a twentieth of the CPU. So a stage's budget is, for each
kind of thread, that thread kind's CPU per delivery times the stage's share of its samples.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
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
    "queue": ["pipeline/queue", "dramatiq/", "workers/taken", "workers/middleware", "storage/later",
              "django_dramatiq/"],
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

#: Kind of thread: the function its samples start in (``Thread.run``'s target), and its name's start.
THREAD_KINDS = {
    "delivery": ("Engine._run", "durian-first", "durian-retry"),
    "Dramatiq worker": ("WorkerThread.run", "Thread-"),
    "Dramatiq consumer": ("ConsumerThread.run", "Thread-"),
    "stream consumer": ("StreamConsumer.run", "durian-consumer"),
    "recorder": ("Recorder._run", "durian-recorder"),
    "marks": ("Marks._run", "durian-marks"),
    "settler": ("Settler._run", "durian-settler"),
    "slot keeper": ("Engine._keep", "durian-slots"),
    "deadlines": ("Watchdog._run", "durian-deadlines"),
}


def stage_of(frames: list[str]) -> str:
    for frame in reversed(frames):  # innermost first
        for name, paths in STAGES.items():
            if any(p in frame for p in paths):
                return name
    return "other"


def kind_of_stack(frames: list[str]) -> str:
    for frame in frames:
        for kind, (target, *_) in THREAD_KINDS.items():
            if frame.startswith(target + " "):
                return kind
    return "other"


def kind_of_thread(name: str, top: str) -> str:
    """A thread's kind from its name and the frame it was last seen running at its bottom."""
    for kind, (target, *_) in THREAD_KINDS.items():
        if target in top:
            return kind
    for kind, (_, *prefixes) in THREAD_KINDS.items():
        if any(name.startswith(p) for p in prefixes) and not name.startswith("Thread-"):
            return kind
    return "other"


def shares(raw_path: str) -> dict[str, dict[str, float]]:
    """Per kind of thread, each stage's share of its samples in a py-spy ``--format raw`` file."""
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    with open(raw_path) as f:
        for line in f:
            line = line.rstrip()
            if line:
                stack, n = line.rsplit(" ", 1)
                frames = stack.split(";")
                counts[kind_of_stack(frames)][stage_of(frames)] += int(n)
    return {kind: {k: v / (sum(c.values()) or 1) for k, v in c.items()} for kind, c in counts.items()}


def thread_ticks(pid: int) -> dict[int, int]:
    """CPU time (clock ticks, user and system) of each thread of ``pid``."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[int(tid)] = int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return out


def thread_kinds(pyspy: str, pid: int) -> dict[int, str]:
    """Each thread's kind, from ``py-spy dump`` (its name, and the frame at the bottom of its stack)."""
    dump = subprocess.run([pyspy, "dump", "-p", str(pid)], capture_output=True, text=True, check=False).stdout
    kinds: dict[int, str] = {}
    for block in re.split(r"\n(?=Thread )", dump):
        head = re.match(r'Thread (\d+) \(\w+\): "([^"]*)"', block)
        if head:
            frames = [line.strip() for line in block.splitlines()[1:] if line.strip()]
            bottom = " ".join(frames[-4:])  # the thread's target is near the bottom
            kinds[int(head.group(1))] = kind_of_thread(head.group(2), bottom)
    return kinds


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
    measured: dict = {}

    def sample() -> None:
        pid = worker_pid()
        time.sleep(3.0)  # past the start: the burst is being drained
        before, started = thread_ticks(pid), time.monotonic()
        done = subprocess.run([pyspy, "record", "--gil", "--nonblocking", "-r", "250", "-d", str(args.seconds), "-f", "raw", "-o", raw,
                               "-p", str(pid)], capture_output=True, text=True, check=False)  # fmt: skip
        after, seconds = thread_ticks(pid), time.monotonic() - started
        measured["kinds"] = thread_kinds(pyspy, pid)
        measured["ticks"] = {tid: after[tid] - before.get(tid, 0) for tid in after}
        measured["seconds"] = seconds
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
    by_kind: collections.Counter[str] = collections.Counter()
    for tid, ticks in measured["ticks"].items():
        by_kind[measured["kinds"].get(tid, "other")] += ticks
    total = sum(by_kind.values()) or 1
    split = shares(raw)
    stages: collections.Counter[str] = collections.Counter()
    print(f"\nworker CPU per delivery: {cpu_us:.0f} us (less the idle rate; py-spy attached)")
    print("by kind of thread (kernel CPU time while sampled):")
    for kind, ticks in by_kind.most_common():
        us = ticks / total * cpu_us
        print(f"  {kind:18} {ticks / total:6.1%}  {us:6.0f} us")
        for stage, share in split.get(kind, {"other": 1.0}).items():
            stages[stage] += share * us
    print("by stage (each kind of thread's CPU split by its samples):")
    for name in [*STAGES, "other"]:
        print(f"  {name:8} {stages[name] / cpu_us:6.1%}  {stages[name]:6.0f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
