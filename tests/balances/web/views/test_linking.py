"""Link views: link tokens, exchange, update mode, unlink, and every bad input.

Login, CSRF and other users' Items for each URL: tests/finance/security/test_url_access.py;
the tests here check what those do not (nothing changed, no call to Plaid, 405, messages).
The dashboard's Link buttons and banners: tests/balances/web/views/test_dashboard.py.
"""

import json
import re
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from balances.models import Account, BalanceSnapshot, PlaidItem
from tests.factories import AccountFactory, PlaidItemFactory, UserFactory
from tests.helpers import new_link, text

pytestmark = pytest.mark.django_db


def post_json(client, url, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


def exchange(client, public_token, metadata=None):
    return post_json(
        client, reverse("link_exchange"), {"public_token": public_token, "metadata": metadata}
    )


# --- Access --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/link/token/"),
        ("post", "/link/exchange/"),
        ("post", "/items/1/link-token/"),
        ("post", "/items/1/reconnected/"),
        ("get", "/items/1/unlink/"),
        ("post", "/items/1/unlink/"),
    ],
)
def test_every_link_endpoint_needs_a_login(client, fake_plaid, method, url):
    PlaidItemFactory(pk=1)
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert fake_plaid.calls == []
    assert PlaidItem.objects.get(pk=1).status == PlaidItem.Status.HEALTHY


@pytest.mark.parametrize("name", ["link_token", "link_exchange"])
def test_writes_need_post_and_csrf(fake_plaid, name):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(UserFactory())
    assert csrf_client.get(reverse(name)).status_code == 405
    assert post_json(csrf_client, reverse(name)).status_code == 403
    assert fake_plaid.calls == []


def test_unlink_post_needs_csrf(fake_plaid):
    item = PlaidItemFactory()
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(item.owner)
    assert csrf_client.post(reverse("item_unlink", args=[item.pk])).status_code == 403
    assert PlaidItem.objects.filter(pk=item.pk).exists()
    assert fake_plaid.removed == []


# --- Link token -----------------------------------------------------------------------------


def test_link_token_for_the_logged_in_user(client, user, fake_plaid):
    response = post_json(client, reverse("link_token"))
    assert response.status_code == 200
    assert response.json()["link_token"] == "link-sandbox-fake-1"
    request = fake_plaid.link_token_requests[0]
    assert request["client_user_id"] == str(user.balances_profile.plaid_user_id)
    assert user.username not in request["client_user_id"]


@pytest.mark.parametrize(
    ("code", "retryable", "status", "message"),
    [
        ("CONNECTION_ERROR", True, 503, "could not be reached"),
        ("TIMEOUT", True, 503, "could not be reached"),
        ("NOT_CONFIGURED", False, 503, "Plaid keys are missing or wrong"),
        ("INVALID_API_KEYS", False, 503, "Plaid keys are missing or wrong"),
        ("INVALID_FIELD", False, 502, "Plaid refused it"),
    ],
)
def test_link_token_failures_are_explained(
    client, user, fake_plaid, code, retryable, status, message
):
    fake_plaid.fail_next(code, retryable=retryable)
    response = post_json(client, reverse("link_token"))
    assert response.status_code == status
    assert message in response.json()["error"]
    assert "link_token" not in response.json()


# --- Exchange -------------------------------------------------------------------------------


def test_exchange_links_the_bank_and_lands_on_a_pending_dashboard(
    client, user, fake_plaid, queued_refreshes, django_capture_on_commit_callbacks
):
    public_token, metadata, item_id = new_link(fake_plaid)
    with django_capture_on_commit_callbacks(execute=True):
        response = exchange(client, public_token, metadata)
    assert response.status_code == 200
    assert response.json()["redirect"] == reverse("dashboard")
    item = PlaidItem.objects.get(owner=user)
    assert (item.plaid_item_id, item.institution_name) == (item_id, "Chase")
    assert queued_refreshes.item_ids == [item.pk]
    page = text(client.get(reverse("dashboard")))
    assert "Chase is linked. Fetching balances…" in page
    assert '<span class="pending" role="status">Fetching balances…</span>' in page
    # The message names its Item, for dashboard.js to settle it once the refresh ends.
    assert f'<p class="message fetching item-{item.pk} success">Chase is linked.' in page
    assert f'data-item="{item.pk}" data-balances-in="false"' in page


def test_pending_ends_when_the_first_refresh_finishes(client, user, fake_plaid, queued_refreshes):
    public_token, metadata, _ = new_link(fake_plaid)
    exchange(client, public_token, metadata)
    item = PlaidItem.objects.get(owner=user)
    assert "Fetching balances…</span>" in text(client.get(reverse("dashboard")))
    item.last_refreshed_at = timezone.now() + timedelta(seconds=1)
    item.save()
    page = text(client.get(reverse("dashboard")))
    assert "Fetching balances…</span>" not in page
    assert f'data-item="{item.pk}" data-balances-in="true"' in page
    # A first refresh that failed: no balances in, whatever the time says.
    item.status = PlaidItem.Status.LOGIN_REQUIRED
    item.save()
    page = text(client.get(reverse("dashboard")))
    assert f'data-item="{item.pk}" data-balances-in="false"' in page


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "No public token was received"),
        ({"public_token": ""}, "No public token was received"),
        ({"public_token": 12345}, "malformed"),
        ({"public_token": "access-sandbox-1234"}, "malformed"),
        ({"public_token": "public-sandbox-not-a-uuid"}, "malformed"),
        ({"public_token": ["public-sandbox-x"]}, "malformed"),
        (
            {"public_token": "public-sandbox-0f3c0c7e-1111-4222-8333-944455556666", "metadata": 3},
            "invalid details",
        ),
    ],
)
def test_exchange_bad_input_is_refused_and_changes_nothing(client, user, fake_plaid, body, message):
    response = post_json(client, reverse("link_exchange"), body)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert "nothing was added" in response.json()["error"].lower()
    assert PlaidItem.objects.count() == 0
    assert fake_plaid.calls == []


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_exchange_body_that_is_not_a_json_object(client, user, fake_plaid, raw):
    response = client.post(reverse("link_exchange"), raw, content_type="application/json")
    assert response.status_code == 400
    assert "Nothing was added" in response.json()["error"]
    assert PlaidItem.objects.count() == 0


def test_expired_public_token(client, user, fake_plaid):
    public_token, metadata, _ = new_link(fake_plaid)
    fake_plaid.fail_next("INVALID_PUBLIC_TOKEN")
    response = exchange(client, public_token, metadata)
    assert response.status_code == 400
    assert "expired or was already used" in response.json()["error"]
    assert PlaidItem.objects.count() == 0


def test_reused_public_token(client, user, fake_plaid, queued_refreshes):
    public_token, metadata, _ = new_link(fake_plaid)
    assert exchange(client, public_token, metadata).status_code == 200
    response = exchange(client, public_token, metadata)
    assert response.status_code == 400
    assert "expired or was already used" in response.json()["error"]
    assert PlaidItem.objects.count() == 1


@pytest.mark.parametrize(
    ("code", "retryable", "status", "message"),
    [
        ("ITEM_NOT_FOUND", False, 502, "Plaid refused it"),
        ("INSTITUTION_NOT_SUPPORTED", False, 502, "Plaid refused it"),
        ("CONNECTION_ERROR", True, 503, "could not be reached"),
        ("INTERNAL_SERVER_ERROR", True, 503, "could not be reached"),
    ],
)
def test_plaid_refusing_or_unreachable_during_exchange(
    client, user, fake_plaid, code, retryable, status, message
):
    public_token, metadata, _ = new_link(fake_plaid)
    fake_plaid.fail_next(code, retryable=retryable)
    response = exchange(client, public_token, metadata)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert "Nothing was changed" in response.json()["error"]
    assert PlaidItem.objects.count() == 0


def test_linking_the_same_bank_again_is_caught(client, user, fake_plaid, queued_refreshes):
    first_token, metadata, _ = new_link(fake_plaid)
    exchange(client, first_token, metadata)
    item = PlaidItem.objects.get()
    assert item.accounts.count() == 5  # stored from /accounts/get at the exchange
    second_token, metadata, _ = new_link(fake_plaid)
    response = exchange(client, second_token, metadata)
    assert response.status_code == 200
    assert response.json()["duplicate"] is True
    assert list(PlaidItem.objects.all()) == [item]
    assert fake_plaid.removed == [fake_plaid.public_tokens[second_token][0]]
    page = text(client.get(reverse("dashboard")))
    assert "Chase is already linked with these accounts, so nothing was added." in page


# --- OAuth return (/link/oauth-return/) ------------------------------------------------------

OAUTH_RETURN = "/link/oauth-return/?oauth_state_id=7d8a1c2e-4b7f-4e2a-9f3c-1a2b3c4d5e6f"


def _resume_token(response):
    """The link token the return page hands to static/js/link.js, or None."""
    found = re.search(r'data-oauth-link-token="([^"]*)"', response.content.decode())
    return found.group(1) if found else None


def _refused(client, response, message):
    assert response.status_code == 302
    assert response.url == reverse("dashboard")
    assert message in text(client.get(reverse("dashboard")))


def test_oauth_return_reopens_link_with_the_sessions_token_never_the_urls(client, user, fake_plaid):
    assert post_json(client, reverse("link_token")).status_code == 200
    response = client.get(OAUTH_RETURN + "&link_token=link-sandbox-evil")
    assert response.status_code == 200
    assert _resume_token(response) == "link-sandbox-fake-1"
    assert "link-sandbox-evil" not in response.content.decode()
    assert 'data-exchange-url="/link/exchange/"' in response.content.decode()
    assert "data-link-complete-url" not in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert [name for name, _ in fake_plaid.calls] == ["/link/token/create"]


def test_oauth_return_resumes_the_latest_link(client, user, fake_plaid):
    post_json(client, reverse("link_token"))
    post_json(client, reverse("link_token"))
    assert _resume_token(client.get(OAUTH_RETURN)) == "link-sandbox-fake-2"


def test_oauth_return_then_the_exchange_links_the_bank_once(
    client, user, fake_plaid, queued_refreshes
):
    post_json(client, reverse("link_token"))
    assert client.get(OAUTH_RETURN).status_code == 200
    public_token, metadata, _ = new_link(fake_plaid)
    assert exchange(client, public_token, metadata).status_code == 200
    assert PlaidItem.objects.filter(owner=user).count() == 1
    # The link is finished: the same return again resumes nothing.
    _refused(client, client.get(OAUTH_RETURN), "No bank link was in progress in this browser")


def test_oauth_return_in_update_mode_keeps_reconnected_working(
    client, user, fake_plaid, queued_refreshes, django_capture_on_commit_callbacks
):
    item = _broken_item(user)
    assert post_json(client, reverse("item_link_token", args=[item.pk])).status_code == 200
    response = client.get(OAUTH_RETURN)
    assert _resume_token(response) == "link-sandbox-fake-1"
    complete_url = reverse("item_update_complete", args=[item.pk])
    assert f'data-link-complete-url="{complete_url}"' in response.content.decode()
    assert "Finishing the reconnection of Chase" in text(response)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_json(client, complete_url).status_code == 200
    item.refresh_from_db()
    assert item.status == PlaidItem.Status.HEALTHY
    _refused(client, client.get(OAUTH_RETURN), "No bank link was in progress in this browser")


def test_oauth_return_without_a_started_link_links_nothing(client, user, fake_plaid):
    response = client.get(OAUTH_RETURN)
    _refused(client, response, "No bank link was in progress in this browser")
    assert fake_plaid.calls == []
    assert not PlaidItem.objects.exists()


@pytest.mark.parametrize(
    "query",
    ["", "?oauth_state_id=", "?oauth_state_id=a%20b", "?oauth_state_id=" + "a" * 129, "?x=1"],
)
def test_oauth_return_without_a_valid_state_links_nothing(client, user, fake_plaid, query):
    post_json(client, reverse("link_token"))
    response = client.get("/link/oauth-return/" + query)
    _refused(client, response, "This return from your bank is not a valid Plaid link")
    # The started link stays: the real return can still come.
    assert _resume_token(client.get(OAUTH_RETURN)) == "link-sandbox-fake-1"


def test_oauth_return_after_the_link_token_expired_links_nothing(client, user, fake_plaid):
    post_json(client, reverse("link_token"))
    session = client.session
    note = session["oauth_link"]
    note["started"] -= 4 * 60 * 60 + 1  # Plaid's link tokens live 4 hours
    session["oauth_link"] = note
    session.save()
    response = client.get(OAUTH_RETURN)
    _refused(client, response, "This bank link took longer than Plaid allows (4 hours)")
    _refused(client, client.get(OAUTH_RETURN), "No bank link was in progress in this browser")


def test_oauth_return_to_another_user_links_nothing(client, user, fake_plaid):
    post_json(client, reverse("link_token"))
    other = UserFactory()
    client.force_login(other)  # another sign-in on the same browser
    _refused(client, client.get(OAUTH_RETURN), "No bank link was in progress in this browser")
    # A note of another user's in this session (however it got there) is refused too.
    session = client.session
    session["oauth_link"] = {"user": user.pk, "token": "link-sandbox-a", "started": time.time()}
    session.save()
    response = client.get(OAUTH_RETURN)
    _refused(client, response, "another sign-in started")
    assert not PlaidItem.objects.exists()


def test_oauth_return_for_a_connection_that_is_gone(client, user, fake_plaid):
    item = _broken_item(user)
    post_json(client, reverse("item_link_token", args=[item.pk]))
    item.delete()
    _refused(client, client.get(OAUTH_RETURN), "The connection being reconnected is gone")


def test_oauth_return_needs_a_login(client, fake_plaid):
    response = client.get(OAUTH_RETURN)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


# --- Update mode ----------------------------------------------------------------------------


def test_update_mode_token_for_own_item(client, user, fake_plaid):
    item = PlaidItemFactory(owner=user, status=PlaidItem.Status.LOGIN_REQUIRED)
    response = post_json(client, reverse("item_link_token", args=[item.pk]))
    assert response.status_code == 200
    assert item.access_token not in response.content.decode()
    request = fake_plaid.link_token_requests[0]
    assert (request["access_token"], request["account_selection"]) == (item.access_token, False)


def test_new_accounts_mode_enables_account_selection(client, user, fake_plaid):
    item = PlaidItemFactory(owner=user, new_accounts_available=True)
    response = post_json(
        client, reverse("item_link_token", args=[item.pk]), {"mode": "new_accounts"}
    )
    assert response.status_code == 200
    assert fake_plaid.link_token_requests[0]["account_selection"] is True


def test_unknown_mode_is_refused(client, user, fake_plaid):
    item = PlaidItemFactory(owner=user)
    response = post_json(client, reverse("item_link_token", args=[item.pk]), {"mode": "x"})
    assert response.status_code == 400
    assert fake_plaid.calls == []


def test_revoked_item_cannot_be_reconnected(client, user, fake_plaid):
    item = PlaidItemFactory(owner=user, status=PlaidItem.Status.REVOKED)
    response = post_json(client, reverse("item_link_token", args=[item.pk]))
    assert response.status_code == 409
    assert "Unlink it and link the bank again" in response.json()["error"]
    assert fake_plaid.calls == []


def test_update_mode_with_plaid_unreachable(client, user, fake_plaid):
    item = PlaidItemFactory(owner=user, status=PlaidItem.Status.LOGIN_REQUIRED)
    fake_plaid.fail_next("CONNECTION_ERROR", retryable=True)
    response = post_json(client, reverse("item_link_token", args=[item.pk]))
    assert response.status_code == 503
    assert "Reconnecting the bank failed" in response.json()["error"]


@pytest.mark.parametrize("name", ["item_link_token", "item_update_complete"])
def test_another_users_item_is_a_404_and_changes_nothing(client, user, fake_plaid, name):
    other = PlaidItemFactory(status=PlaidItem.Status.LOGIN_REQUIRED, error_code="X")
    response = post_json(client, reverse(name, args=[other.pk]))
    assert response.status_code == 404
    other.refresh_from_db()
    assert (other.status, other.error_code) == (PlaidItem.Status.LOGIN_REQUIRED, "X")
    assert fake_plaid.calls == []


def test_missing_item_is_a_404(client, user, fake_plaid):
    assert post_json(client, reverse("item_link_token", args=[999])).status_code == 404


def test_update_complete_repairs_the_item_and_refreshes_it(
    client, user, fake_plaid, queued_refreshes, django_capture_on_commit_callbacks
):
    item = PlaidItemFactory(
        owner=user,
        status=PlaidItem.Status.LOGIN_REQUIRED,
        error_code="ITEM_LOGIN_REQUIRED",
        error_at=timezone.now(),
    )
    assert post_json(client, reverse("item_link_token", args=[item.pk])).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(client, reverse("item_update_complete", args=[item.pk]))
    assert response.status_code == 200
    item.refresh_from_db()
    assert (item.status, item.error_code) == (PlaidItem.Status.HEALTHY, "")
    assert queued_refreshes.item_ids == [item.pk]
    page = text(client.get(reverse("dashboard")))
    assert "Chase is reconnected. Fetching balances…" in page
    assert "Reconnect</button>" not in page


def _broken_item(user):
    return PlaidItemFactory(
        owner=user,
        status=PlaidItem.Status.LOGIN_REQUIRED,
        error_code="ITEM_LOGIN_REQUIRED",
        error_at=timezone.now(),
    )


def _reconnect(client, item, *, start=True):
    """Start update mode for `item` (unless not `start`), then report Link's success."""
    if start:
        assert post_json(client, reverse("item_link_token", args=[item.pk])).status_code == 200
    return post_json(client, reverse("item_update_complete", args=[item.pk]))


def test_reconnected_without_an_update_mode_link_changes_nothing(
    client, user, fake_plaid, queued_refreshes, django_capture_on_commit_callbacks
):
    item = _broken_item(user)
    with django_capture_on_commit_callbacks(execute=True):
        response = _reconnect(client, item, start=False)
    assert response.status_code == 409
    assert "No reconnection of this bank is in progress" in response.json()["error"]
    item.refresh_from_db()
    assert (item.status, item.error_code) == (
        PlaidItem.Status.LOGIN_REQUIRED,
        "ITEM_LOGIN_REQUIRED",
    )
    assert queued_refreshes.item_ids == []


def test_update_mode_link_for_another_item_does_not_count(
    client, user, fake_plaid, queued_refreshes, django_capture_on_commit_callbacks
):
    item, other = _broken_item(user), _broken_item(user)
    assert post_json(client, reverse("item_link_token", args=[other.pk])).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert _reconnect(client, item, start=False).status_code == 409
    assert queued_refreshes.item_ids == []


def test_one_update_mode_link_is_accepted_once(
    client, user, fake_plaid, queued_refreshes, django_capture_on_commit_callbacks
):
    item = _broken_item(user)
    with django_capture_on_commit_callbacks(execute=True):
        assert _reconnect(client, item).status_code == 200
        repeats = [_reconnect(client, item, start=False).status_code for _ in range(5)]
    assert repeats == [409] * 5
    assert queued_refreshes.item_ids == [item.pk]


def test_reconnecting_again_and_again_queues_one_refresh_per_interval(
    client, user, fake_plaid, queued_refreshes, django_capture_on_commit_callbacks
):
    """Each round is a real update-mode Link; the refreshes still follow "Refresh now"'s
    interval (the refresh of each round finishes before the next)."""
    item = _broken_item(user)
    for _ in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            assert _reconnect(client, item).status_code == 200
        item.refresh_from_db()
        item.last_refreshed_at = timezone.now() + timedelta(seconds=1)  # the refresh ended
        item.save()
    assert queued_refreshes.item_ids == [item.pk]
    item.refresh_from_db()
    assert (item.status, item.error_code) == (PlaidItem.Status.HEALTHY, "")
    page = text(client.get(reverse("dashboard")))
    assert "Chase is reconnected. Its balances update with the next refresh." in page


def test_refresh_now_and_reconnecting_share_one_interval(
    client, user, fake_plaid, queued_refreshes, django_capture_on_commit_callbacks
):
    item = PlaidItemFactory(owner=user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("refresh"))
    assert queued_refreshes.item_ids == [item.pk]
    item.refresh_from_db()
    item.last_refreshed_at = timezone.now() + timedelta(seconds=1)
    item.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert _reconnect(client, item).status_code == 200
    assert queued_refreshes.item_ids == [item.pk]


# --- Bodies no view can use -----------------------------------------------------------------


DEEP = b"[" * 5000 + b"]" * 5000
BAD_BODIES = [
    DEEP,
    b'{"a": ' + b"[" * 100 + b"]" * 100 + b"}",
    b'{"mode": "' + b"\\u0000" + b'"}',
    b'{"mode": ' + b"9" * 5000 + b"}",
    b'{"mode": NaN}',
    b"\xff\xfe",
    b"x" * (300 * 1024),
]


@pytest.mark.parametrize("raw", BAD_BODIES, ids=range(len(BAD_BODIES)))
@pytest.mark.parametrize("name", ["link_exchange", "item_link_token"])
def test_bodies_past_the_bounds_are_a_400(client, user, fake_plaid, name, raw):
    item = PlaidItemFactory(owner=user)
    url = reverse(name, args=[item.pk] if name == "item_link_token" else [])
    response = client.post(url, raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]
    assert fake_plaid.calls == []
    assert PlaidItem.objects.count() == 1


@pytest.mark.parametrize(
    "institution",
    [
        {"institution_id": "ins_3", "name": "B" * 201},
        {"institution_id": "ins_3", "name": "Bank\x00"},
        {"institution_id": "i" * 51, "name": "Bank"},
    ],
)
def test_an_institution_the_item_cannot_store_is_a_400(
    client, user, fake_plaid, monkeypatch, institution
):
    from balances.plaid import client as plaid_client
    from balances.plaid.errors import PlaidError

    def lookup_fails(institution_id):
        raise PlaidError(code="INTERNAL_SERVER_ERROR", message="down", http_status=500)

    monkeypatch.setattr(plaid_client, "institutions_get_by_id", lookup_fails)
    public_token, metadata, _ = new_link(fake_plaid)
    metadata["institution"] = institution
    response = exchange(client, public_token, metadata)
    assert response.status_code == 400
    assert "nothing was added" in response.json()["error"].lower()
    assert PlaidItem.objects.count() == 0
    assert fake_plaid.calls == []


# --- Unlink ---------------------------------------------------------------------------------


@pytest.fixture
def item_with_history(user):
    item = PlaidItemFactory(owner=user)
    for mask in ("0000", "1111"):
        account = AccountFactory(item=item, mask=mask)
        BalanceSnapshot.objects.create(account=account, taken_at=timezone.now())
    return item


def test_unlink_page_says_what_happens(client, item_with_history, fake_plaid):
    response = client.get(reverse("item_unlink", args=[item_with_history.pk]))
    page = text(response)
    assert "Unlink Chase?" in page
    assert "removed at Plaid" in page
    assert "Its 2 accounts leave your dashboard and your net worth." in page
    assert "(2 recorded balances) is deleted" in page
    assert "••0000" in page and "••1111" in page
    assert fake_plaid.calls == []
    assert PlaidItem.objects.count() == 1


def test_unlink_removes_at_plaid_and_here(client, item_with_history, fake_plaid):
    token = item_with_history.access_token
    response = client.post(reverse("item_unlink", args=[item_with_history.pk]))
    assert response.status_code == 302
    assert response.url == reverse("dashboard")
    assert fake_plaid.removed == [token]
    assert PlaidItem.objects.count() == Account.objects.count() == 0
    assert BalanceSnapshot.objects.count() == 0
    page = text(client.get(response.url))
    assert "Chase is unlinked" in page


def test_unlink_with_plaid_unreachable_changes_nothing(client, item_with_history, fake_plaid):
    fake_plaid.fail_next("CONNECTION_ERROR", retryable=True)
    url = reverse("item_unlink", args=[item_with_history.pk])
    response = client.post(url)
    assert response.status_code == 302
    assert response.url == url
    assert PlaidItem.objects.count() == 1
    assert Account.objects.count() == 2
    page = text(client.get(url))
    assert "could not be reached to remove this connection, so nothing was changed" in page


@pytest.mark.parametrize("method", ["get", "post"])
def test_unlinking_another_users_item_is_a_404(client, user, fake_plaid, method):
    other = PlaidItemFactory()
    response = getattr(client, method)(reverse("item_unlink", args=[other.pk]))
    assert response.status_code == 404
    assert PlaidItem.objects.filter(pk=other.pk).exists()
    assert fake_plaid.calls == []
