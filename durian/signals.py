"""durian's Django signals."""

from __future__ import annotations

from django.dispatch import Signal

#: Sent when a listener is disabled for its failures or by a 410 Gone answer, after the change is
#: saved. Arguments: ``sender`` (the ``Listener`` class), ``listener`` (the instance, already
#: disabled) and ``reason`` (the text also stored in ``listener.disabled_reason``).
listener_disabled = Signal()

__all__ = ["listener_disabled"]
