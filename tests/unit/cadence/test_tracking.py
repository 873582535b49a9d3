"""Tracking tokens, link rewriting, the pixel and machine opens (cadence/tracking.py)."""

from __future__ import annotations

import datetime as dt
import uuid

from hypothesis import given
from hypothesis import strategies as st

from cadence.tracking import add_pixel, expired, machine_reason, make_track_token, read_track_token, rewrite_links

SECRET = "unit-test-secret-0123456789"
TODAY = dt.date(2026, 12, 7)
urls = st.from_regex(r"https://[a-z]{1,12}\.example/[a-zA-Z0-9/?=&%._~-]{0,80}", fullmatch=True)


@given(touch=st.uuids(), url=urls, days=st.integers(0, 20_000))
def test_a_click_token_says_exactly_what_was_signed(touch: uuid.UUID, url: str, days: int) -> None:
    issued = dt.date(2020, 1, 1) + dt.timedelta(days=days)
    token = make_track_token(touch, "click", SECRET, url=url, issued=issued)
    read = read_track_token(token, "click", SECRET)
    assert read is not None and (read.touch_id, read.kind, read.url, read.issued) == (touch, "click", url, issued)
    assert read_track_token(token, "open", SECRET) is None  # never valid as the other kind
    assert read_track_token(token, "click", SECRET + "x") is None


@given(touch=st.uuids(), url=urls, position=st.integers(0, 10_000), flip=st.integers(1, 63))
def test_any_changed_character_makes_a_token_invalid(touch: uuid.UUID, url: str, position: int, flip: int) -> None:
    token = make_track_token(touch, "click", SECRET, url=url, issued=TODAY)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    i = position % len(token)
    if token[i] == ".":
        return
    changed = token[:i] + alphabet[(alphabet.index(token[i]) + flip) % 64] + token[i + 1 :]
    read = read_track_token(changed, "click", SECRET)
    # Base64's last character can carry padding bits: a change there may decode to the same bytes.
    assert read is None or read == read_track_token(token, "click", SECRET)


def test_garbage_and_open_tokens() -> None:
    for junk in ("", ".", "a.b", "....", "€.€", "x" * 5000):
        assert read_track_token(junk, "click", SECRET) is None and read_track_token(junk, "open", SECRET) is None
    touch = uuid.uuid4()
    token = make_track_token(touch, "open", SECRET, issued=TODAY)
    read = read_track_token(token, "open", SECRET)
    assert read is not None and read.url is None and read.touch_id == touch
    assert not expired(read, TODAY + dt.timedelta(days=365), 365) and expired(read, TODAY + dt.timedelta(days=366), 365)


def test_only_http_links_outside_the_opt_out_pages_are_rewritten() -> None:
    html = (
        "<a href=\"https://shop.example/a?x=1&amp;y=2\">a</a> <A HREF='http://b.example'>b</A> "
        '<a href="mailto:rep@example.com">m</a> <a href="tel:+1555">t</a> <a href="https://c.example/u/TOKEN">u</a> '
        '<a class="x" href="/relative">r</a>'
    )
    seen: list[str] = []

    def track(url: str) -> str:
        seen.append(url)
        return f"https://t.example/c/{len(seen)}?q=1&r=2"

    out = rewrite_links(html, track, never=("https://c.example/u/",))
    assert seen == ["https://shop.example/a?x=1&y=2", "http://b.example"]  # entities decoded before signing
    assert 'href="https://t.example/c/1?q=1&amp;r=2"' in out and "HREF='https://t.example/c/2?q=1&amp;r=2'" in out
    for kept in ('href="mailto:rep@example.com"', 'href="tel:+1555"', 'href="https://c.example/u/TOKEN"', 'href="/relative"'):
        assert kept in out


def test_the_pixel_goes_before_the_end_of_the_body() -> None:
    assert add_pixel("<html><body><p>x</p></body></html>", "https://t/o/1.gif").endswith(
        '<img src="https://t/o/1.gif" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px"></body></html>'
    )
    assert add_pixel("<p>x</p>", "https://t/o/1.gif").startswith("<p>x</p><img")


CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
GMAIL = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


def test_machine_opens_and_clicks() -> None:
    assert machine_reason(CHROME, "203.0.113.9", 3600) is None
    assert machine_reason(GMAIL, "66.249.84.1", 3600) is None  # Gmail fetches when the person opens
    assert machine_reason(CHROME, "203.0.113.9", 1.5) == "within 5 s of sending"
    assert machine_reason(CHROME, "17.58.1.2", 3600) == "Apple Mail Privacy Protection (Apple network)"
    assert machine_reason("Mozilla/5.0", "203.0.113.9", 3600) == "Apple Mail Privacy Protection (bare user agent)"
    assert machine_reason(None, None, None) == "no user agent"
    for scanner in ("Mimecast-Scanner/1.0", "python-requests/2.32", "Barracuda Sentinel", "curl/8.5", "Mozilla/5.0 HeadlessChrome/131"):
        assert machine_reason(scanner, "198.51.100.1", 3600) == "security scanner or bot"
    assert machine_reason(CHROME, "not-an-ip", 3600) is None
