"""Storage: where durian keeps state, in the database and in Redis.

- ``durian.models`` (Django's place for them): listeners, delivery records, dead letters, the outbox.
- ``connection``: the Redis clients, one per purpose and process.
- ``outbox``: events written in the transaction of their change, until they reach the stream.
- ``stream``: the Redis Stream that carries events to the workers.
- ``listener_cache``: listeners cached in Redis, and each worker's snapshot of them.
- ``recorder``: delivery records (history rows), batched in the background.
- ``deadletters``: deliveries that failed for good.
- ``health``: failures in a row, last success, disabling listeners that keep failing.
- ``idempotency``: one lease per webhook-id, so a delivery handed on twice posts once.
"""
