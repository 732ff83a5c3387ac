"""durian's Dramatiq side.

- ``workers.consumer``: each worker process's stream consumer (read a batch through the consumer
  group, reclaim stale entries, fan out against the cached listeners, enqueue deliveries, XACK).
- ``workers.actors``: the ``deliver`` actor (HTTP attempts, retries, dead letters).
- ``workers.middleware``: the Dramatiq middleware that runs the consumer beside the actors.

``durian.tasks`` imports this package, so ``manage.py rundramatiq`` picks it up on its own.
"""
