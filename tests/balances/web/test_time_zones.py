"""Each user's time zone: chosen in Settings, shown on pages, messages, exports and the admin."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from balances.models import Profile
from balances.web import time_zones
from tests.factories import PlaidItemFactory, UserFactory
from tests.helpers import text

pytestmark = pytest.mark.django_db


def choose(client, zone: str):
    return client.post(reverse("profile_settings"), {"setting": "time_zone", "time_zone": zone})


def test_settings_sets_the_zone_and_pages_show_times_in_it(client, settings):
    settings.TIME_ZONE = "UTC"
    user = UserFactory()
    client.force_login(user)
    page = text(client.get(reverse("profile_settings")))
    assert "Not chosen yet: times show in this site's zone, UTC." in page
    response = choose(client, "Asia/Tokyo")
    assert response.status_code == 302
    assert Profile.objects.get(user=user).time_zone == "Asia/Tokyo"
    page = text(client.get(reverse("profile_settings")))
    assert "Time zone set to Asia/Tokyo." in page
    assert "Not chosen yet" not in page
    # A page showing a time: an API token's creation, in Tokyo's clock with its zone.
    client.post(reverse("api_tokens"), {"name": "sheet", "scope": "read", "expires_in_days": ""})
    created = user.api_tokens.get().created_at
    page = text(client.get(reverse("api_tokens")))
    tokyo = timezone.localtime(created, timezone=ZoneInfo("Asia/Tokyo"))
    assert f"{tokyo:%Y-%m-%d %H:%M} JST" in page


@pytest.mark.parametrize("zone", ["", "Mars/Olympus", "../etc/passwd", "UTC\x00", "a" * 500])
def test_settings_rejects_unknown_zones_and_changes_nothing(client, zone):
    user = UserFactory()
    Profile.objects.create(user=user, time_zone="Europe/Paris")
    client.force_login(user)
    response = choose(client, zone)
    assert response.status_code == 400
    assert 'id="time-zone-error" role="alert"' in response.content.decode()
    assert Profile.objects.get(user=user).time_zone == "Europe/Paris"


def test_without_a_choice_times_are_in_the_site_zone(client, settings):
    settings.TIME_ZONE = "America/New_York"
    user = UserFactory()
    client.force_login(user)
    assert client.get(reverse("profile_settings")).context["zone_form"]["time_zone"].value() == (
        "America/New_York"
    )
    seen = []
    from django.test.signals import template_rendered

    def record(**kwargs):
        seen.append(timezone.get_current_timezone_name())

    template_rendered.connect(record)
    try:
        client.get(reverse("dashboard"))
    finally:
        template_rendered.disconnect(record)
    assert seen and set(seen) == {"America/New_York"}


def test_the_zone_is_read_at_login_and_costs_no_query_per_page(client):
    user = UserFactory()
    Profile.objects.create(user=user, time_zone="Europe/Paris")
    client.force_login(user)  # the login reads it into the session
    assert client.session[time_zones.SESSION_KEY] == "Europe/Paris"
    client.get(reverse("profile_settings"))
    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("api_tokens"))
    assert not [q for q in queries if "balances_profile" in q["sql"]]


def test_a_session_from_before_time_zones_reads_the_zone_once(client):
    user = UserFactory()
    Profile.objects.create(user=user, time_zone="Asia/Kolkata")
    client.force_login(user)
    session = client.session
    del session[time_zones.SESSION_KEY]
    session.save()
    client.get(reverse("profile_settings"))
    assert client.session[time_zones.SESSION_KEY] == "Asia/Kolkata"


def test_the_refresh_message_names_the_zone():
    from balances.web.views.dashboard import _throttled_message

    item = PlaidItemFactory(institution_name="Chase", last_refreshed_at=timezone.now())
    with timezone.override("Europe/Paris"):  # what the middleware does for a Paris user
        message = _throttled_message(item, timezone.now() + timedelta(minutes=10))
    paris = timezone.localtime(item.last_refreshed_at, timezone=ZoneInfo("Europe/Paris"))
    assert f"Chase was refreshed at {paris:%H:%M %Z}." in message
    assert paris.tzname() in ("CET", "CEST")
    assert f" {paris.tzname()} (in " in message


def test_csv_times_are_in_the_users_zone_with_the_offset(client, refreshed_user):
    Profile.objects.update_or_create(user=refreshed_user, defaults={"time_zone": "Asia/Tokyo"})
    client.force_login(refreshed_user)
    response = client.get(reverse("export_accounts_csv"))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    stamp = rows[0]["balances_updated_at"]
    assert stamp.endswith("+09:00")
    moment = timezone.datetime.fromisoformat(stamp)
    assert abs(moment - timezone.now()) < timedelta(minutes=5)  # the same instant
    assert {r["mask_label"] for r in rows} >= {"ending 0000"}  # text for spreadsheets
    assert {r["mask"] for r in rows} >= {"0000"}  # exact for programs
    history = client.get(reverse("export_history_csv"))
    rows = list(csv.DictReader(io.StringIO(b"".join(history.streaming_content).decode())))
    assert rows and all(r["taken_at"].endswith("+09:00") for r in rows)
    assert {r["mask_label"] for r in rows if r["mask"] == "0000"} == {"ending 0000"}


def test_the_admin_shows_times_in_the_staff_users_zone(client, admin_user, refreshed_user):
    from balances.models import PlaidItem

    Profile.objects.create(user=admin_user, time_zone="Asia/Tokyo")
    client.force_login(admin_user)
    item = PlaidItem.objects.get(owner=refreshed_user)
    page = text(client.get(reverse("admin:balances_plaiditem_change", args=[item.pk])))
    assert "JST" in page
    # Django's own date display (the Item's "Last refreshed at") names the zone too.
    assert re.search(r"\d{1,2}(:\d\d)? [ap]\.m\. JST", page) or re.search(
        r"(noon|midnight) JST", page
    )
    client.post(reverse("profile_settings"), {"setting": "time_zone", "time_zone": "UTC"})
    page = text(client.get(reverse("admin:balances_plaiditem_change", args=[item.pk])))
    assert "JST" not in page and "UTC" in page


def test_the_books_days_do_not_move_with_the_users_zone(client, settings, refreshed_user):
    """A user 14 hours ahead of the site at 12:00 UTC is already on the next day; the
    history's days (the API's `end`, the dashboard's data) stay the site's."""
    settings.TIME_ZONE = "UTC"
    noon = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    site_day = noon.date()
    Profile.objects.update_or_create(
        user=refreshed_user, defaults={"time_zone": "Pacific/Kiritimati"}
    )
    client.force_login(refreshed_user)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timezone, "now", lambda: noon)
        assert timezone.localdate(noon, ZoneInfo("Pacific/Kiritimati")) != site_day
        for view in ("mine", "household"):
            body = client.get("/api/v1/net-worth/history/", {"range": "30d", "view": view}).json()
            assert body["end"] == site_day.isoformat(), view
            assert body["series"][0]["points"][-1]["date"] == site_day.isoformat(), view
