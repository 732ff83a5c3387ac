"""The README's walk-through, run as written, against a real worker and receiver."""

import re
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from durian.models import Listener

ROOT = Path(__file__).resolve().parent.parent


def python_blocks():
    text = (ROOT / "README.rst").read_text()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text)
    return [re.sub(r"^    ", "", b, flags=re.M).strip() + "\n" for b in blocks]


def block_containing(fragment):
    (block,) = [b for b in python_blocks() if fragment in b]
    return block


def test_the_readme_hook_is_the_example_projects_hook():
    readme = block_containing("class PersonHook(ModelHook)")
    assert readme == (ROOT / "example_project/people/hooks.py").read_text()


def test_the_readme_model_is_the_example_projects_model():
    readme = block_containing("class Person(models.Model)")
    source = (ROOT / "example_project/people/models.py").read_text()
    assert readme.split("class Person")[1].strip() in source


@pytest.mark.django_db(transaction=True)
def test_the_walkthrough_delivers_exactly_what_each_listener_asked_for(worker, receiver):
    code = block_containing("PersonHook().listener(url=url)")
    code = code.replace("from people.", "from example_project.people.")
    code = code.replace('"https://client.example/hook"', repr(receiver.url))
    exec(compile(code, "README.rst", "exec"), {})

    joe, js, every = Listener.objects.order_by("id")
    received = receiver.wait_for(1 + 2 + 3)
    got = {}
    for request in received:
        listener_id = int(request.headers["webhook-id"].rsplit("_", 1)[1])
        secret = Listener.objects.get(pk=listener_id).secret
        body = Webhook(secret).verify(request.body, request.headers)
        got.setdefault(listener_id, []).append(body["name"])
    assert sorted(got[joe.pk]) == ["Joe"]
    assert sorted(got[js.pk]) == ["Jane", "Joe"]
    assert sorted(got[every.pk]) == ["Ann", "Jane", "Joe"]


def test_every_setting_is_documented_in_the_readme_with_its_default():
    from durian.conf import DEFAULTS

    text = (ROOT / "README.rst").read_text()
    missing = [name for name in DEFAULTS if f"``DURIAN_{name}``" not in text]
    assert missing == []


def readme_words() -> str:
    """The README with its line breaks and indentation made single spaces."""
    return " ".join((ROOT / "README.rst").read_text().split())


def test_the_readme_gives_no_test_count_or_run_time_that_could_go_stale():
    text = readme_words()
    assert re.findall(r"\b\d[\d,]* (?:\w+ )?tests\b", text) == []  # "416 tests", "7 fault tests"
    assert (
        re.findall(r"(?:suite|tests?|--quick|--smoke)\b[^.]{0,60}\b(?:took|takes?|about) [\d.]+ ?(?:s|min)", text) == []
    )
    # What a newcomer needs instead: each run shows its progress, where its time went and how long it took.
    assert "--durations=15" in text and "prints how long the run took" in text


def test_the_figures_the_readme_gives_about_the_tests_are_true():
    from tests.test_ssrf import VECTORS

    assert f"The SSRF tests run their {len(VECTORS)} vectors" in readme_words()


def test_the_readme_s_test_commands_are_the_ones_dev_py_runs():
    import dev

    text = readme_words()
    assert "python3 dev.py test # the whole test suite, in parallel: what CI runs" in text
    assert "python3 dev.py test --quick # all but the fault, browser and slow tests" in text
    assert dev.QUICK == "not fault and not browser and not slow"
    assert "python3 dev.py test\n" in (ROOT / ".ci" / "run").read_text()  # CI runs the whole suite, as the README says
