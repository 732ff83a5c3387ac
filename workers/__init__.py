"""durian's Dramatiq side: the entry point of worker processes.

- ``workers.actors``: the ``durian.deliver`` actor (the work is ``durian.pipeline.deliver``).
- ``workers.consumer``: each worker process's stream consumer thread (read a batch through the
  consumer group, reclaim stale entries, hand it to ``durian.pipeline.fanout``, sweep the outbox).
- ``workers.middleware``: the Dramatiq middleware that runs the consumer beside the actors.

``durian.tasks`` imports the actors and installs the middleware, so ``manage.py rundramatiq``
picks both up on its own.
"""
