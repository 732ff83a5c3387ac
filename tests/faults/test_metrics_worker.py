"""Prometheus metrics: a real worker process with Dramatiq's Prometheus middleware, scraped over HTTP."""

from __future__ import annotations

import re
import socket
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from durian.match import Startswith
from durian.models import Listener
from example_project.people.hooks import PersonHook
from example_project.people.models import Person

from .conftest import FAULTS_A, wait_until

# FAULTS_A: two fault tests at most at once (tests/faults/conftest.py says why).
pytestmark = [pytest.mark.fault, FAULTS_A, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """Every sample the exposition serves: ``{(name, sorted labels): value}``."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def sample(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_workers_metrics_endpoint_counts_real_deliveries_failures_and_dead_letters(cluster, receiver, tmp_path):
    port = free_port()
    cluster.start_worker(
        threads=2,
        settings_module="tests.faults.metrics_worker_settings",
        dramatiq_prom_host="127.0.0.1",
        dramatiq_prom_port=str(port),
        dramatiq_prom_db=str(tmp_path / "prometheus"),
    )
    PersonHook().listener(url=receiver.url).match(name=Startswith("A")).save()
    PersonHook().listener(url="http://127.0.0.1:9/refused").match(name=Startswith("A")).save()
    Listener.objects.create(hook="person", url="http://127.0.0.1:9/off", state=Listener.State.PAUSED)
    for i in range(3):
        Person.objects.create(name=f"Ann {i}", address="1 Main St", secret="s")
    receiver.wait_for(3, timeout=30)

    def moved() -> dict | None:
        samples = scrape(port)
        done = (
            sample(samples, "durian_deliveries_total", hook="person", outcome="delivered") >= 3
            and sample(samples, "durian_deliveries_total", hook="person", outcome="dead") >= 3
        )
        return samples if done else None

    wait_until(moved, 60, "the worker's counters to move", every=0.5)
    samples = scrape(port)
    attempts_made = 3  # tests.faults.metrics_worker_settings: DURIAN_RETRY_SCHEDULE = [0.2, 0.2]
    delivered = sample(samples, "durian_deliveries_total", hook="person", outcome="delivered")
    failed = sample(samples, "durian_deliveries_total", hook="person", outcome="failed")
    # At least once: under load an attempt may be made twice, and is then counted twice.
    assert failed >= 3 * attempts_made
    assert sample(samples, "durian_attempt_duration_seconds_count", hook="person") == delivered + failed
    wait_until(
        lambda: (
            sample(scrape(port), "durian_dead_letters") == 3
            and sample(scrape(port), "durian_listeners", state="paused") == 1
        ),
        30,
        "the gauges to show 3 dead letters and 1 paused listener",
        every=0.5,
    )
    samples = scrape(port)
    assert sample(samples, "durian_listeners", state="active") == 2
    assert sample(samples, "durian_stream_lag") == 0
    assert sample(samples, "durian_outbox_backlog") == 0
    assert any(re.match("dramatiq_messages", name) for name, _ in samples)  # Dramatiq's own, same port
