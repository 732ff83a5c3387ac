"""Operator commands (``manage.py durian_status``, ``durian_replay``, ``durian_purge``) and what they need.

- ``status``: the state of the pipeline (stream, consumers, outbox, dead letters) as data and text.
- ``purge``: forgetting what is old (records, delivered dead letters, consumed stream entries).
- ``timespec``: the times and durations the commands take (``2h``, ``2026-11-01T12:00``).
- ``progress``: a progress bar for long commands.
Replaying events is a delivery path: ``durian.pipeline.replay``.
"""
