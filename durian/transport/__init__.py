"""Transport: one vetted, bounded HTTP attempt, with ``requests``.

- ``ssrf``: which addresses a listener URL may reach (resolve once, refuse non-public addresses).
- ``prepared``: POSTs through a session's adapter without ``Session.request``'s per-call work.
- ``bounded``: the session that connects only to vetted addresses (or through ``DURIAN_PROXY``), a
  total deadline, a size cap.
- ``delivery``: sign an event, POST it once (a ``durian.deliver`` span with OpenTelemetry), and
  turn the answer into an ``Outcome``.

Nothing here touches the database or Redis: what an attempt means for the listener is the
pipeline's business (``durian.pipeline.attempts``).
"""
