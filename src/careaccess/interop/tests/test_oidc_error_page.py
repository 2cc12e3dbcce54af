"""/oidc/authorize opened in a browser with a missing or unknown client, or a redirect URI the
client does not have, answers with an NHS.UK page (same status, same OAuth 2 error code); a caller
not asking for HTML still gets Authlib's JSON, and errors a relying service can be told of are
still redirected to it."""

from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from .test_oidc import REDIRECT, browser, key_dir, rp, world  # noqa: F401 (fixtures)

HTML = {"HTTP_ACCEPT": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_a_browser_with_no_or_an_unknown_client_gets_an_error_page(browser, rp):
    for query, code in (("", "unsupported_response_type"), ("?client_id=nobody&response_type=code", "invalid_client")):
        raw = browser.get(f"/oidc/authorize{query}", secure=True)  # not a browser: Authlib's JSON, as before
        assert raw.status_code == 400 and raw.json()["error"] == code
        page = browser.get(f"/oidc/authorize{query}", secure=True, **HTML)
        assert page.status_code == 400 and page["Content-Type"].startswith("text/html")
        html = page.content.decode()
        problem = html[html.index('id="oidc-error"'):][:300]
        assert "This sign-in link does not work" in html and f"<code>{code}</code>" in problem, problem
        assert "the request was not right" not in problem  # said in plain words
        assert "nhsuk-header" in html and "Location" not in page


def test_a_bad_redirect_uri_is_a_page_and_a_relying_service_error_still_redirects(browser, rp):
    rp_client, _ = rp
    page = browser.get("/oidc/authorize?" + urlencode({
        "response_type": "code", "client_id": rp_client.client_id, "redirect_uri": "https://evil.example/cb",
        "scope": "openid", "code_challenge": create_s256_code_challenge("x" * 43), "code_challenge_method": "S256"}),
        secure=True, **HTML)
    assert page.status_code == 400 and "<code>invalid_request</code>" in page.content.decode()
    assert "evil.example" not in page.get("Location", "")
    sent_back = browser.get("/oidc/authorize?" + urlencode({
        "response_type": "code", "client_id": rp_client.client_id, "redirect_uri": REDIRECT, "scope": "openid",
        "state": "s"}), secure=True, **HTML)  # no PKCE: the relying service is told
    assert sent_back.status_code == 302
    assert parse_qs(urlsplit(sent_back["Location"]).query)["error"] == ["invalid_request"]

