"""/oidc/authorize opened in Chromium without parameters: an NHS.UK page, not raw JSON."""

import pytest

from careaccess.web.tests.conftest import PASSWORD

from .test_oidc import key_dir  # noqa: F401 (fixture)


@pytest.mark.browser
def test_chromium_opening_authorize_without_parameters_sees_the_page(live_server, page, transactional_db):
    from careaccess.web.tests.conftest import person

    who = person("Oona", "Opener")
    page.goto(f"{live_server.url}/oidc/authorize")
    page.fill("#username", who.uid)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{live_server.url}/oidc/authorize*")
    response = page.goto(f"{live_server.url}/oidc/authorize")
    assert response.status == 400
    assert page.locator("h1").inner_text() == "This sign-in link does not work"
    assert "unsupported_response_type" in page.locator("#oidc-error").inner_text()
