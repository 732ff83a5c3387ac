from django.db.models import signals

from durian.hook import ModelHook
from durian.registry import hooks

from .models import Person


class PersonHook(ModelHook):
    """A person was created or changed."""

    name = "person"
    model = Person
    signal = signals.post_save
    provides_args = ["name", "address"]


hooks.register(PersonHook)
