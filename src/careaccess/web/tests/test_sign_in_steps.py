"""Steps after sign-in: the first registered step that applies to the person comes before any page."""

import pytest

from careaccess.web import sign_in_steps

from .conftest import sign_in

pytestmark = pytest.mark.django_db


def test_the_first_step_that_applies_comes_before_home(client, sponsor, monkeypatch):
    who, _ = sponsor
    monkeypatch.setattr(sign_in_steps, "_steps", [])
    sign_in_steps.register(lambda person: None)
    sign_in_steps.register(lambda person: "/first-step" if person == who else None)
    sign_in_steps.register(lambda person: "/second-step")
    response = sign_in(client, who.uid)
    assert response.status_code == 302 and response.url == "/first-step"


def test_a_step_is_registered_once(monkeypatch):
    monkeypatch.setattr(sign_in_steps, "_steps", [])

    def step(person):
        return None

    sign_in_steps.register(step)
    sign_in_steps.register(step)  # AppConfig.ready() may run again in one process
    assert sign_in_steps._steps == [step]
