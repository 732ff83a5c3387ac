"""Short notes shown on the next page (Django's messages framework, when the site has it)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest


def tell(request: HttpRequest, text: str, level: int = messages.SUCCESS) -> None:
    """Queue ``text`` for the next page; a site without the messages app simply does not show it."""
    messages.add_message(request, level, text, fail_silently=True)
