"""``durian.conf.settings`` keeps what it read, yet every change a project or a test makes is seen at once."""

from django.test import override_settings

from durian.conf import DEFAULTS, changes
from durian.conf import settings as durian_settings


def test_a_setting_overridden_is_read_at_once_and_restored_after():
    before = durian_settings.TOTAL_TIMEOUT
    with override_settings(DURIAN_TOTAL_TIMEOUT=3.5):
        assert durian_settings.TOTAL_TIMEOUT == 3.5
    assert durian_settings.TOTAL_TIMEOUT == before


def test_a_setting_deleted_with_the_settings_fixture_falls_back_to_its_documented_default(settings):
    settings.DURIAN_RETRY_SCHEDULE = [1]
    assert list(durian_settings.RETRY_SCHEDULE) == [1]
    del settings.DURIAN_RETRY_SCHEDULE
    assert durian_settings.RETRY_SCHEDULE == DEFAULTS["RETRY_SCHEDULE"]


def test_values_derived_from_settings_learn_that_they_changed(settings):
    seen = changes()
    settings.DURIAN_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    durian_settings.ALLOWED_NETWORKS  # noqa: B018  (read: the change is noticed)
    assert changes() > seen
