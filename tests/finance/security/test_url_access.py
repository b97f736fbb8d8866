"""For every URL the project serves: login required, per-user isolation, CSRF.

The URL list comes from the resolver, so views added by any later change are covered
automatically; only PUBLIC_ROUTES / CSRF_EXEMPT_ROUTES (tests/finance/security/routes.py) are
exceptions, and each needs a reason there.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.finance.security.conftest import A_MARKERS, Tenant, client_for
from tests.finance.security.routes import (
    CSRF_EXEMPT_ROUTES,
    LOGIN_PATHS,
    PUBLIC_ROUTES,
    Route,
    all_routes,
    default_values,
    fills,
)

pytestmark = pytest.mark.django_db

ROUTES = all_routes()
PRIVATE = [r for r in ROUTES if not r.is_public]
APP_OBJECT_ROUTES = [r for r in ROUTES if not r.is_admin and not r.is_public and r.int_params]
APP_PLAIN_ROUTES = [r for r in ROUTES if not r.is_admin and not r.is_public and not r.params]


def _ids(routes: list[Route]) -> list[str]:
    return [r.route for r in routes]


def _is_login_redirect(response: Any) -> bool:
    return response.status_code == 302 and response["Location"].startswith(LOGIN_PATHS)


def test_the_route_walk_finds_the_apps_urls() -> None:
    routes = {r.route for r in ROUTES}
    assert {"", "refresh/", "accounts/login/", "admin/"} <= routes
    assert any(r.name == "admin:balances_plaiditem_change" for r in ROUTES)
    # Public routes that no longer exist would widen the allow-list silently.
    stale = PUBLIC_ROUTES - routes
    assert stale == set()


def _is_api_401(response: Any) -> bool:
    return (
        response.status_code == 401
        and response["Content-Type"] == "application/json"
        and set(response.json()) == {"detail"}
        and response["WWW-Authenticate"].startswith("Bearer")
    )


TOKEN_API = [r for r in PRIVATE if r.is_token_api]


@pytest.mark.parametrize("route", TOKEN_API, ids=_ids(TOKEN_API))
def test_anonymous_api_request_is_401_with_a_json_error(route: Route) -> None:
    """The read API's answer to no credentials: a script has no login page to follow."""
    client = Client(raise_request_exception=False)
    url = route.url(default_values(route))
    for method in ("get", "post"):
        response = getattr(client, method)(url)
        assert _is_api_401(response), f"{method.upper()} {url} -> {response.status_code}"


LOGIN_PAGES = [r for r in PRIVATE if not r.is_token_api]


@pytest.mark.parametrize("route", LOGIN_PAGES, ids=_ids(LOGIN_PAGES))
def test_anonymous_visitor_is_sent_to_login(route: Route) -> None:
    client = Client(raise_request_exception=False)
    url = route.url(default_values(route))
    responses = {method: getattr(client, method)(url) for method in ("get", "post")}
    # A method the view does not take may answer 405, but never with data.
    for method, response in responses.items():
        assert _is_login_redirect(response) or response.status_code == 405, (
            f"{method.upper()} {url} -> {response.status_code} for an anonymous visitor"
        )
    assert any(_is_login_redirect(r) for r in responses.values()), url


@pytest.mark.parametrize("route", APP_OBJECT_ROUTES, ids=_ids(APP_OBJECT_ROUTES))
def test_other_users_objects_are_404(
    route: Route, tenant_a: Tenant, tenant_b: Tenant, emulator: Any
) -> None:
    """B gets 404 for each of A's objects, by GET and POST; A does reach them."""
    bob = client_for(tenant_b.user)
    for values in fills(route, tenant_a.ids()):
        url = route.url(values)
        for method in ("get", "post"):
            response = getattr(bob, method)(url)
            assert response.status_code in (404, 405), (
                f"{method.upper()} {url} (A's object) as B -> {response.status_code}"
            )
            if response.status_code == 405:
                continue
            body = response.content.decode(errors="replace")
            assert not any(m in body for m in A_MARKERS), url
    # Not vacuous: some of A's ids must reach a real object of A's through this URL. A's
    # own requests go last, as they may change A's data (e.g. unlink).
    alice = client_for(tenant_a.user)
    reached = []
    for values in fills(route, tenant_a.ids()):
        url = route.url(values)
        for method in ("get", "post"):
            status = getattr(alice, method)(url).status_code
            if status not in (404, 405):
                reached.append((method, url, status))
                break
    assert reached, f"{route.route}: none of A's ids reach an object of A's; fill it by hand"


@pytest.mark.parametrize("route", APP_PLAIN_ROUTES, ids=_ids(APP_PLAIN_ROUTES))
def test_pages_and_exports_show_only_the_users_own_data(
    route: Route, tenant_a: Tenant, tenant_b: Tenant, emulator: Any
) -> None:
    bob = client_for(tenant_b.user)
    url = route.url({})
    response = bob.get(url)
    if response.status_code == 405:
        response = bob.post(url)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode(errors="replace")
    leaked = [m for m in A_MARKERS if m in text]
    assert not leaked, f"GET {url} as B shows A's data: {leaked}"


def test_the_dashboard_shows_the_users_own_data(tenant_a: Tenant, tenant_b: Tenant) -> None:
    """The marker check above is not vacuous: A does see A's markers on the dashboard."""
    page = client_for(tenant_a.user).get("/").content.decode()
    assert "Aardvark Checking" in page and "Beaver Checking" not in page
    assert "Alderbank A-only house" in page and "Birchbank B-only house" not in page


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.is_admin], ids=_ids([r for r in ROUTES if r.is_admin])
)
def test_admin_is_closed_to_non_staff(route: Route, tenant_a: Tenant, tenant_b: Tenant) -> None:
    bob = client_for(tenant_b.user)
    url = route.url(default_values(route, int_value=tenant_a.item.pk))
    response = bob.get(url)
    if route.is_public:
        assert response.status_code in (200, 302)
        return
    assert _is_login_redirect(response) or response.status_code in (403, 404, 405), (
        f"GET {url} as a non-staff user -> {response.status_code}"
    )


# The exempt webhook is verified by its signature instead (tests of that view).
CSRF_PROTECTED = [r for r in ROUTES if r.route not in CSRF_EXEMPT_ROUTES]


@pytest.mark.parametrize("route", CSRF_PROTECTED, ids=_ids(CSRF_PROTECTED))
def test_post_without_csrf_token_is_refused(route: Route, tenant_a: Tenant) -> None:
    client = client_for(tenant_a.user, enforce_csrf_checks=True)
    values = default_values(route, int_value=tenant_a.item.pk)
    response = client.post(route.url(values), {"anything": "1"})
    assert response.status_code == 403, f"POST {route.url(values)} -> {response.status_code}"


def test_csrf_exempt_views_are_only_the_allowed_ones() -> None:
    # REST framework marks its views csrf_exempt for Django and checks CSRF itself on
    # session-authenticated writes (a token needs none): test_post_without_csrf_token_is_refused
    # above covers each of them like any other view.
    exempt = {
        r.route
        for r in ROUTES
        if getattr(r.callback, "csrf_exempt", False) and not r.is_rest_framework_view
    }
    assert exempt <= CSRF_EXEMPT_ROUTES
    assert any(r.is_rest_framework_view for r in ROUTES)  # not vacuous
