"""The benchmark still runs: ``python bench/run.py --smoke`` end to end, asserting nothing about speed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(1000)  # seconds on an idle machine; about 6 minutes beside 4 CPU-bound processes
def test_the_benchmark_smoke_run_prints_its_table_and_writes_its_results(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", "--results", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "throughput, 1 listener(s), 1 process(es)" in done.stdout
    (result,) = tmp_path.glob("*.json")
    data = json.loads(result.read_text())
    run = data["durian"]["throughput"]["1_listeners_1_proc"]
    assert run["delivered"] == run["expected"]  # distinct events per listener
    assert run["posts"] == run["delivered"] + run["duplicates"]
    assert data["durian"]["latency"]["missing"] == 0
    assert data["durian"]["save"]["sqlite"]["tx1000_round_trips"] == 1  # as the README promises
    assert set(data["durian"]["fanout"]) == {"10", "100"}
    in_order = data["durian"]["ordered"]
    assert in_order["delivered"] == in_order["events"] and in_order["in_commit_order"]
    assert in_order["first_attempts_failed"] >= 1
    assert "ordered listener, 20 events" in done.stdout


def test_the_published_benchmark_table_is_the_one_the_versioned_results_give():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "publish.py"), "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads((ROOT / "docs" / "benchmarks.json").read_text())
    assert data["profile"] == "full"
    for run in data["durian"]["throughput"].values():
        assert run["delivered"] == run["expected"]  # distinct deliveries, every one of them
