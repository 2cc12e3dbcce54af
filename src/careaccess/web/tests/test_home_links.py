"""Every item on the home page of every demo login either links to a page that answers 200 for that
person, or says where it is done (the API, the operator's command): never an item leading nowhere."""

from __future__ import annotations

import re
from html import unescape

from django.test import TestCase, override_settings
from django.urls import NoReverseMatch, reverse

from careaccess.core import permissions
from careaccess.directory import demo
from careaccess.web import menu

ITEM = re.compile(r"<li>(.*?)</li>", re.S)
LINK = re.compile(r'<a href="([^"]+)">')


def test_every_action_has_a_page_that_exists_or_says_where_it_is_done():
    for action in permissions.ACTIONS:
        name = menu.ACTION_PAGES.get(action)
        if name:
            try:
                reverse(name)
            except NoReverseMatch:
                raise AssertionError(f"{action}: its page {name} does not exist") from None
        else:
            assert menu.ELSEWHERE.get(action), f"{action}: no page and nothing says where it is done"


@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
class DemoHomePages(TestCase):
    @classmethod
    def setUpTestData(cls):
        demo.load()

    def sign_in(self, login):
        response = self.client.post("/sign-in", {"username": login.person.uid, "password": login.password})
        assert response.status_code == 302, (login.actor, response.content[:300])
        home = self.client.get("/", follow=True)
        if "/choose-position" in home.redirect_chain[-1][0] if home.redirect_chain else False:
            raise AssertionError(f"{login.actor}: asked to choose a position")
        assert home.status_code == 200, login.actor
        return home.content.decode()

    def test_every_home_item_of_every_demo_login_links_to_a_page_answering_200_or_says_where(self):
        seen = 0
        for login in demo.logins():
            with self.subTest(actor=login.actor):
                html = self.sign_in(login)
                sections = html[html.index("<main"):html.index("</main>")]
                for item in ITEM.findall(sections):
                    text = unescape(re.sub(r"<[^>]+>", "", item)).strip()
                    links = LINK.findall(item)
                    if not links:
                        assert re.search(r": (through the API: (GET|POST|PATCH) /api/v1/|ask the operator: "
                                         r"careaccess |the worker )", text), f"{login.actor}: dead item {text!r}"
                        continue
                    for href in links:
                        # A queue may send the person on to the one that is theirs (a desk's validation queue).
                        response = self.client.get(unescape(href), follow=True)
                        where = response.redirect_chain[-1][0] if response.redirect_chain else href
                        assert response.status_code == 200 and "/sign-in" not in where, \
                            f"{login.actor}: {text!r} -> {href} answered {response.status_code} at {where}"
                        seen += 1
                self.client.post("/sign-out")
        assert seen > 20

    def test_demo_logins_says_the_plain_user_has_no_staff_position_as_the_header_does(self):
        import io

        from django.core.management import call_command

        out = io.StringIO()
        call_command("demo", "logins", stdout=out)
        user = next(row for row in demo.logins() if row.actor == "user")
        line = next(line for line in out.getvalue().splitlines() if user.person.uid in line)
        assert "none: not staff" in line
        staff = next(row for row in demo.logins() if row.actor == "sponsor")
        assert "none" not in next(line for line in out.getvalue().splitlines() if staff.person.uid in line)
        assert "No staff position" in self.sign_in(user)
