"""Every "pick a time" link in a shipped template goes somewhere: the owner's booking page,
the company's, or an email to the owner; never to a page Cadence does not serve."""

from __future__ import annotations

from activities.render import meeting_url
from core.settings import Settings
from models.tables import Owner


def test_the_link_falls_back_to_the_company_page_then_to_an_email() -> None:
    settings = Settings(_env_file=None, mail_from_address="team@example.com")
    booked = Owner(id="a", name="Ada", email="ada@example.com", meeting_url="https://cal.example.com/ada")
    assert meeting_url(settings, booked) == "https://cal.example.com/ada"
    plain = Owner(id="b", name="Ben", email="ben@example.com")
    assert meeting_url(settings, plain) == "mailto:ben@example.com?subject=Finding%20a%20time%20to%20talk"
    assert meeting_url(settings, None) == "mailto:team@example.com?subject=Finding%20a%20time%20to%20talk"
    company = Settings(_env_file=None, meeting_url="https://example.com/book")
    assert meeting_url(company, plain) == "https://example.com/book"
    assert "/meet" not in meeting_url(settings, plain)  # the old fallback was a 404
