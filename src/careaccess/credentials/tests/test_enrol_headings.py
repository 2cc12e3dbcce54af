"""The authenticator set-up pages keep heading order (h1, then h2: the warning callouts were h3
straight after the h1) and show the callouts' text."""

import re

from careaccess.web.tests.conftest import sign_in

from .test_authenticators import _quick_hashes, code_now, sponsor  # noqa: F401 (fixtures)


def levels(html: str) -> list[int]:
    main = html[html.index("<main"):html.index("</main>")]
    return [int(level) for level in re.findall(r"<h([1-6])\b", main)]


def assert_in_order(found: list[int]):
    assert found and found[0] == 1
    for before, after in zip(found, found[1:]):
        assert after <= before + 1, found


def test_set_up_and_recovery_code_pages_go_from_h1_to_h2_and_show_the_callout_text(client, sponsor, clock, settings):
    settings.CAREACCESS_REQUIRE_SECOND_FACTOR = True
    response = sign_in(client, sponsor.uid)
    page = client.get(response.url).content.decode()
    assert "You need a second factor" in page and "RA or sponsor rights" in page
    assert_in_order(levels(page))
    from careaccess.credentials.models import TotpDevice

    secret = TotpDevice.objects.get(person=sponsor).secret
    done = client.post("/account/security/authenticator-app", {"code": code_now(secret, clock)}).content.decode()
    assert "Keep them safe" in done
    assert_in_order(levels(done))
