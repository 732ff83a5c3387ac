"""The fan-out index finds exactly the listeners that testing every listener finds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from durian import match
from durian.core.index import ListenerIndex, scan
from durian.core.recipients import ListenerView, Snapshot

FIELDS = ["name", "city", "count"]
texts = st.text(alphabet="abAB", max_size=4)
values = st.one_of(
    texts, st.integers(-2, 2), st.booleans(), st.none(), st.floats(-1, 1).filter(lambda f: f in (0.0, 1.0, -1.0)),
    st.lists(st.integers(0, 2), max_size=2),
)  # fmt: skip
matchers = st.one_of(
    values.map(match.Is),
    texts.map(match.Startswith),
    texts.map(match.Endswith),
    texts.map(match.Contains),
    st.sampled_from(["^a", "b$", "A+"]).map(match.Like),
    st.just(match.Any()),
)
filters = st.dictionaries(st.sampled_from(FIELDS), matchers, max_size=3)
states = st.sampled_from(["active", "active", "active", "paused", "disabled"])
listeners = st.lists(st.tuples(filters, states), max_size=40).map(
    lambda specs: [
        ListenerView(i, "person", f"http://127.0.0.1/{i}", ("whsec_x",), state, f) for i, (f, state) in enumerate(specs)
    ]
)
payloads = st.dictionaries(st.sampled_from(FIELDS), values, max_size=3)


@settings(max_examples=300, deadline=None)
@given(listeners, st.lists(payloads, min_size=1, max_size=5))
def test_the_index_matches_exactly_the_listeners_a_full_scan_matches(listeners, events):
    index = ListenerIndex(listeners)
    for payload in events:
        assert [x.id for x in index.matching(payload)] == [x.id for x in scan(listeners, payload)]


@settings(max_examples=100, deadline=None)
@given(listeners, payloads)
def test_a_snapshot_returns_the_matching_listeners_that_keep_events_of_the_event_hook_only(listeners, payload):
    other = [ListenerView(1000 + x.id, "order", x.url, x.all_secrets, x.state, x.filters) for x in listeners]
    snapshot = Snapshot.of(b"v1", listeners + other)
    keeping = [x for x in listeners if x.state in ("active", "paused", "disabled")]
    assert [x.id for x in snapshot.matching("person", payload)] == [x.id for x in scan(keeping, payload)]
    assert snapshot.matching("nobody", payload) == []


def test_ten_thousand_listeners_are_not_all_tested_for_one_event():
    listeners = [
        ListenerView(i, "person", "http://127.0.0.1/", ("whsec_x",), "active", {"name": match.Is(f"n{i}")})
        for i in range(5000)
    ] + [
        ListenerView(5000 + i, "person", "http://127.0.0.1/", ("whsec_x",), "active",
                       {"name": match.Startswith(f"n{i}")})
        for i in range(5000)
    ]  # fmt: skip
    index = ListenerIndex(listeners)
    candidates = index.candidates({"name": "n42"})
    assert sorted(listener.id for _, listener in candidates) == [42, 5004, 5042]
    assert [x.id for x in index.matching({"name": "n42"})] == [42, 5004, 5042]
