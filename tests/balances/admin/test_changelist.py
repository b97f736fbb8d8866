"""List pages of the admin, for any query string: a filter value no database can use is
Django's "invalid lookup" redirect (`?e=1`), never a 500; secret columns are no filter."""

import pytest
from django.test import Client

from tests.factories import AccountFactory, BalanceSnapshotFactory, UserFactory

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999"
UNUSABLE = [
    "/admin/balances/plaiditem/?status=%00",
    "/admin/balances/plaiditem/?institution_name=%00",
    "/admin/balances/plaiditem/?warning_code=%00",
    "/admin/balances/plaiditem/?status__in=healthy,%00",
    "/admin/balances/plaidcall/?error_code=%00",
    "/admin/balances/plaidcall/?endpoint=%00",
    "/admin/balances/account/?type=%00",
    f"/admin/balances/balancesnapshot/?taken_at__year={HUGE}",
    f"/admin/balances/plaidcall/?called_at__year={HUGE}",
    f"/admin/balances/plaidcall/?called_at__year=2026&called_at__month={HUGE}",
    f"/admin/balances/plaidcall/?called_at__year=2026&called_at__month=1&called_at__day={HUGE}",
    "/admin/balances/plaidcall/?called_at__year=9999",  # the year after it is no date
    "/admin/balances/plaidcall/?called_at__year=9999&called_at__month=12",
    "/admin/auth/user/?is_staff__exact=%00",
    f"/admin/axes/accessattempt/?attempt_time__year={HUGE}",  # third-party admins too
    "/admin/axes/accessattempt/?path_info=%00",
]


@pytest.fixture
def root():
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    BalanceSnapshotFactory(account=AccountFactory())
    return client


@pytest.mark.parametrize("url", UNUSABLE)
def test_unusable_filter_values_are_an_invalid_lookup(root, url):
    response = root.get(url)
    assert response.status_code == 302
    assert response["Location"] == url.split("?")[0] + "?e=1"


def test_usable_filter_values_still_filter(root):
    for url in (
        "/admin/balances/plaiditem/?status=healthy",
        "/admin/balances/balancesnapshot/?taken_at__year=2026",
        "/admin/balances/plaidcall/?called_at__year=9998&called_at__month=12&called_at__day=31",
    ):
        assert root.get(url).status_code == 200, url


def test_an_overlong_search_is_ignored_with_a_message(root):
    response = root.get("/admin/balances/plaiditem/", {"q": "x " * 5000})
    assert response.status_code == 200
    assert "Ensure this value has at most 200 characters" in response.content.decode()


@pytest.mark.parametrize("superuser", [False, True])
@pytest.mark.parametrize(
    "url",
    [
        "/admin/balances/plaiditem/?access_token_encrypted__startswith=gAAAAA",
        "/admin/balances/plaiditem/?access_token_encrypted=x",
        "/admin/balances/plaiditem/?access_token_encrypted__regex=^g",
        "/admin/balances/account/?item__access_token_encrypted__startswith=g",
        "/admin/auth/user/?password__startswith=md5",
        "/admin/otp_totp/totpdevice/?key__startswith=a",
    ],
)
def test_secret_columns_are_no_lookup(url, superuser):
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(is_staff=True, is_superuser=superuser))
    AccountFactory()
    assert client.get(url).status_code in ((400,) if superuser else (400, 403))
