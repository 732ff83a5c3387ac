"""The listener list's search, state filter and page, kept across the actions taken from it.

``?q=`` searches the URL, the event (hook) and the description; ``?state=`` keeps one state;
``?page=`` is the page. Pause and resume post the list's query back (``back``), so the user returns
to the same page, filtered the same way, at the listener they acted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.db.models import Q, QuerySet
from django.http import HttpRequest, QueryDict
from django.urls import reverse

from ..models import Listener

#: The query parameters of the list, in the order they are written back.
PARAMS = ("q", "state", "page")
MAX_SEARCH = 200


@dataclass(frozen=True)
class ListQuery:
    """What the user searched for and which state they kept (empty: every listener)."""

    q: str = ""
    state: str = ""

    @classmethod
    def of(cls, params: QueryDict) -> ListQuery:
        state = params.get("state", "")
        return cls(
            q=params.get("q", "").strip()[:MAX_SEARCH],
            state=state if state in Listener.State.values else "",
        )

    @property
    def active(self) -> bool:
        return bool(self.q or self.state)

    def apply(self, queryset: QuerySet[Listener]) -> QuerySet[Listener]:
        if self.q:
            queryset = queryset.filter(
                Q(url__icontains=self.q) | Q(hook__icontains=self.q) | Q(description__icontains=self.q)
            )
        if self.state:
            queryset = queryset.filter(state=self.state)
        return queryset

    def keep(self) -> str:
        """The search and filter as ``&q=...&state=...``, for the page links."""
        kept = {name: value for name, value in (("q", self.q), ("state", self.state)) if value}
        return f"&{urlencode(kept)}" if kept else ""


def back_to_list(request: HttpRequest, listener: Listener) -> str:
    """The list as the user left it (posted back as ``back``: its search, filter and page), at ``listener``."""
    posted = QueryDict(request.POST.get("back", ""))
    kept = {name: posted[name] for name in PARAMS if posted.get(name)}
    query = f"?{urlencode(kept)}" if kept else ""
    return f"{reverse('durian:listener-list')}{query}#listener-{listener.pk}"
