"""The pure core: what an event, a payload, a signature, a matcher and an outcome are.

Nothing here talks to the database, Redis or the network. Every other layer builds on it:
``storage`` keeps these values, ``transport`` sends them, ``pipeline`` moves them along.
"""
