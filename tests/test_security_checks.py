"""System checks catch a misconfigured SSRF allowlist or resolver before anything runs."""

from durian.checks import check_security_settings, check_settings


def ids(messages):
    return [m.id for m in messages]


def test_the_test_settings_pass():
    assert check_security_settings() == []
    assert check_settings() == []


def test_a_malformed_allowlist_entry_is_an_error(settings):
    settings.DURIAN_ALLOWED_NETWORKS = ["10.0.0.0/8", "intranet"]
    assert ids(check_security_settings()) == ["durian.E013"]


def test_an_allowlist_that_opens_everything_is_a_warning(settings):
    settings.DURIAN_ALLOWED_NETWORKS = ["0.0.0.0/0"]
    assert ids(check_security_settings()) == ["durian.W002"]


def test_a_resolver_that_cannot_be_imported_is_an_error(settings):
    settings.DURIAN_RESOLVER = "nowhere.resolve"
    assert ids(check_security_settings()) == ["durian.E014"]


def test_the_total_timeout_must_be_positive(settings):
    settings.DURIAN_TOTAL_TIMEOUT = 0
    assert ids(check_settings()) == ["durian.E011"]
