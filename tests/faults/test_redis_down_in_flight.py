"""Redis stops while deliveries are in flight: a slow receiver keeps a backlog moving, the CPU is busy."""

import subprocess
import sys
import time

import pytest

from example_project.people.hooks import PersonHook

from .conftest import await_all, report, save_people, wait_until

pytestmark = [pytest.mark.fault, pytest.mark.timeout(240)]

EVENTS = 600


class BusyCPU:
    """Processes that burn CPU on every core, as other work on a shared machine does."""

    def __init__(self, count: int = 4) -> None:
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]

    def stop(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


@pytest.mark.parametrize("run", [1, 2, 3])
def test_redis_stopped_while_deliveries_are_in_flight_loses_none(cluster, receiver, run):
    receiver.always(200, delay=0.05)  # a slow receiver: requests stay in flight
    PersonHook().listener(url=receiver.url).save()
    save_people(EVENTS, per_transaction=100, prefix=f"r{run}-")
    busy = BusyCPU()
    try:
        cluster.start_worker()
        wait_until(lambda: len(receiver.delivered) >= EVENTS // 4, 60, "a quarter of the events delivered")
        cluster.redis.stop()
        stopped_with = len(receiver.delivered)
        time.sleep(3)
        cluster.redis.restart()
        tally = await_all(receiver, EVENTS, timeout=120)
    finally:
        busy.stop()
    names = {r.json()["name"] for r in receiver.delivered}
    report(f"Redis stopped with deliveries in flight (run {run})", tally, delivered_before_stop=stopped_with)
    assert names == {f"r{run}-{i}" for i in range(EVENTS)}
    assert tally.lost == 0
