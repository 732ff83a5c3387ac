"""The pipeline: how an event moves, from the save that fired it to a settled attempt.

- ``dispatch``: after commit, from the outbox to the stream (or to ``local`` delivery).
- ``fanout``: from stream entries to delivery items, for the listeners that receive each event.
- ``queue``: delivery items as messages of the ``durian.deliver`` actor.
- ``attempts``: the one attempt runner: attempt, record, observe health, retry or dead-letter.
- ``deliver``: what the ``durian.deliver`` actor does with one message.
- ``local``: ``async_ = False`` hooks, delivered in the saving process after commit.
- ``resend``: dead letters delivered again.
- ``replay``: past events delivered again, from the stream and dead letters.
"""
