"""Rules a deployment may tune are settings whose defaults are the sources' values."""

import os

import pytest

from careaccess import settings as project_settings


@pytest.mark.skipif("CAREACCESS_REQUIRE_SECOND_FACTOR" in os.environ, reason="overridden in this environment")
def test_staff_with_ra_or_sponsor_rights_need_a_second_factor_by_default():
    # issue 5: the secure choice is the default; only the test suite turns it off (conftest.py)
    assert project_settings.CAREACCESS_REQUIRE_SECOND_FACTOR is True


def test_defaults_are_the_sources_values():
    assert project_settings.CAREACCESS_PIN_MAX_TRIES == 3
    assert project_settings.CAREACCESS_CERTIFICATE_VALIDITY_DAYS == 730  # rule DS13
    assert project_settings.CAREACCESS_SELF_RENEWAL_WINDOW_DAYS == 90  # rule DS13
    assert project_settings.CAREACCESS_MAX_RENEWALS == 3  # rule DS13
    assert project_settings.CAREACCESS_NON_RENEWABLE_SERIES == ("01", "02", "03")  # rule DS11
    assert project_settings.CAREACCESS_UNLOCK_CODE_MINUTES == 15  # rule DS9
    assert project_settings.CAREACCESS_MAILBOX_MAX_INDIVIDUAL == 3  # rule NM4
    assert project_settings.CAREACCESS_MAILBOX_MAX_SHARED == 1  # rule NM4
