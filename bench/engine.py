"""The delivery engine alone, quickly: ``python bench/engine.py [--deliveries N] [--only NAME ...]``.

What ``bench/run.py`` measures of one worker process (``--processes 1 --threads 8``, default
settings), without the peer, the saves or the latency phases, so a change to the engine can be
judged in a minute: deliveries/s, worker CPU and Redis commands per delivery (less the idle
rate), and requests in flight, for

- ``instant``: one listener whose receiver answers at once;
- ``instant10``: ten such listeners;
- ``slow10``: ten listeners whose receiver answers in 100 ms;
- ``slow64``: one listener with ``max_in_flight=64`` whose receiver answers in 100 ms.

The published figures come from ``bench/run.py`` (one full run, the peer included).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from bench import run  # noqa: E402

#: name: (listeners, receiver path, listener cap)
SCENARIOS = {
    "instant": (1, "", None),
    "instant10": (10, "", None),
    "slow10": (10, "/slow", None),
    "slow64": (1, "/slow", 64),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=4000)
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), default=list(SCENARIOS))
    args = parser.parse_args(argv)
    prof = run.PROFILES["quick"]
    workdir = tempfile.mkdtemp(prefix="durian-engine-")
    db = run.Database("sqlite", workdir)
    durian = run.System("durian", sys.executable, "bench.settings")
    out = {}
    with run.infrastructure(workdir) as (redis_url, receiver):
        os.environ["REDIS_URL"] = redis_url
        durian.drive(db, "setup")
        for name in args.only:
            listeners, path, cap = SCENARIOS[name]
            r = run.throughput_run(durian, db, receiver, redis_url, prof, listeners, 1,
                                   os.path.join(workdir, "workers.log"), path=path,
                                   deliveries=args.deliveries, max_in_flight=cap)  # fmt: skip
            out[name] = r
            print(
                f"{name:8} {r['deliveries_per_s']:7.0f}/s  cpu {r['worker_cpu_ms_per_delivery']:.3f} ms"
                f" (gross {r['worker_cpu_ms_per_delivery_gross']:.3f})  redis {r['redis_commands_per_delivery']:.2f}"
                f"  in flight peak {r['max_in_flight']} mean {r['mean_in_flight']:.1f}"
                f"  delivered {r['delivered']}/{r['expected']} dup {r['duplicates']}",
                flush=True,
            )
            print(f"         commands: {json.dumps(r['redis_commands'])}", flush=True)
    print(f"logs: {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
