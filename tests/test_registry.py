"""The hook registry: registration, lookups, and errors that name the hook and the field."""

import pytest

from durian.exceptions import HookError
from durian.hook import Hook, ModelHook
from durian.registry import HookRegistry, hooks
from durian.storage import stream
from example_project.people.hooks import PersonHook
from example_project.people.models import Person


@pytest.fixture
def registry():
    """A registry of this test's own; whatever it registered is unregistered (signals disconnected) after."""
    own = HookRegistry()
    yield own
    for hook in list(own):
        own.unregister(hook.name)


def test_the_example_hook_is_autodiscovered_from_hooks_py():
    assert "person" in hooks
    assert isinstance(hooks["person"], PersonHook)
    assert "person" in [h.name for h in hooks]


def test_registering_a_second_hook_under_the_same_name_fails_at_once(registry):

    class Other(ModelHook):
        name = "person"
        model = Person
        provides_args = ["name"]

    registry.register(PersonHook)
    with pytest.raises(HookError, match="'person'.*already registered"):
        registry.register(Other)


def test_provides_args_naming_no_field_fails_naming_the_hook_and_field(registry):
    class Broken(ModelHook):
        name = "broken"
        model = Person
        provides_args = ["name", "shoe_size"]

    with pytest.raises(HookError) as info:
        registry.register(Broken)
    assert "'broken'" in str(info.value) and "'shoe_size'" in str(info.value)


@pytest.mark.django_db(transaction=True)
def test_register_takes_a_class_or_an_instance_and_unregister_disconnects(redis_client, registry):

    class Renamed(PersonHook):
        name = "person-copy"

    registry.register(Renamed())
    assert registry["person-copy"].name == "person-copy"
    assert len(registry) == 1
    Person.objects.create(name="Before")
    registry.unregister(Renamed)
    assert "person-copy" not in registry
    Person.objects.create(name="After")
    sent = [e.payload["name"] for _, e in stream.history(redis_client) if e.hook == "person-copy"]
    assert sent == ["Before"]


def test_an_unknown_hook_name_raises_key_error_that_names_it():
    with pytest.raises(KeyError, match="nope"):
        hooks["nope"]


def test_a_plain_hook_needs_a_name(registry):
    class Nameless(Hook):
        pass

    with pytest.raises(HookError, match="name"):
        registry.register(Nameless)


def test_description_comes_from_the_docstring_or_the_attribute():
    class Described(Hook):
        """First paragraph.

        More details."""

        name = "described"

    class Explicit(Hook):
        name = "explicit"
        description = "Said plainly."

    assert Described().get_description() == "First paragraph."
    assert Explicit().get_description() == "Said plainly."
    assert hooks["person"].get_description() == "A person was created or changed."


def test_the_public_names_are_available_from_the_package():
    import durian
    from durian.hook import ModelHook as Direct

    assert durian.ModelHook is Direct and durian.hooks is hooks
    assert {"Any", "Is", "Startswith", "Endswith", "Contains", "Like"} <= set(durian.__all__)
