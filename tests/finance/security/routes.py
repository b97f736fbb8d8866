"""Every URL pattern the project serves, found by walking the resolver.

URLs added later by any app are covered without touching the security tests. A URL is
built by `reverse()` when the pattern has a name, else from its route text.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter
from django.urls.resolvers import RegexPattern, RoutePattern

# Open without signing in. Everything else must send an anonymous visitor to a login page.
PUBLIC_ROUTES = frozenset(
    {
        "accounts/login/",
        "accounts/logout/",
        "admin/login/",
        "admin/logout/",
        "plaid/webhook/",
        "healthz/",  # load balancers and monitoring: check results only, no data
        # Password reset by e-mail (404 unless EMAIL_URL is set): for people who cannot log in.
        "accounts/password_reset/",
        "accounts/password_reset/done/",
        "accounts/reset/<uidb64>/<token>/",
        "accounts/reset/done/",
        "favicon.ico",  # a redirect to the app's icon (static files are public)
    }
)
# The only views that take a POST without a CSRF token: Plaid's webhook (it is verified by
# its signature instead).
CSRF_EXEMPT_ROUTES = frozenset({"plaid/webhook/"})
# The read API answers a visitor without credentials 401 with a JSON error (a script has no
# login page to follow); its page for people, the docs, sends them to log in like any page.
TOKEN_API_PREFIX = "api/v1/"
TOKEN_API_PAGES = frozenset({"api/v1/docs/"})
LOGIN_PATHS = ("/accounts/login/", "/admin/login/")


@dataclass(frozen=True)
class Route:
    route: str  # the full route text, e.g. "items/<int:pk>/unlink/"
    name: str | None  # namespaced name for reverse(), e.g. "admin:index"
    callback: Any
    pattern: RoutePattern | RegexPattern
    params: tuple[str, ...]  # keyword arguments, in order
    int_params: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return self.route.startswith("admin/") or self.route.startswith("^admin/")

    @property
    def is_public(self) -> bool:
        return self.route in PUBLIC_ROUTES

    @property
    def is_token_api(self) -> bool:
        """A REST framework endpoint of the read API: 401 instead of a login redirect; the
        views are csrf_exempt for Django, their SessionAuthentication checks CSRF instead
        (test_post_without_csrf_token_is_refused covers each)."""
        return self.route.startswith(TOKEN_API_PREFIX) and self.route not in TOKEN_API_PAGES

    @property
    def is_rest_framework_view(self) -> bool:
        """A REST framework view of the read API (docs page included)."""
        from rest_framework.views import APIView

        view_class = getattr(self.callback, "cls", None)
        return (
            self.route.startswith(TOKEN_API_PREFIX)
            and isinstance(view_class, type)
            and issubclass(view_class, APIView)
        )

    def url(self, values: Mapping[str, Any]) -> str:
        kwargs = {name: values[name] for name in self.params}
        if self.name:
            return reverse(self.name, kwargs=kwargs)
        text = self.route
        for name in self.params:
            # A function, not a template: a value such as "\\g" is text, not a group reference.
            value = str(kwargs[name])
            text = re.sub(rf"<(?:\w+:)?{name}>", lambda _match, v=value: v, text)
            text = re.sub(rf"\(\?P<{name}>[^)]*\)", lambda _match, v=value: v, text)
        return "/" + text.lstrip("^").rstrip("$")


def _route_text(pattern: Any) -> str:
    return str(pattern).lstrip("^") if isinstance(pattern, RegexPattern) else str(pattern)


def _walk(
    patterns: Sequence[URLPattern | URLResolver], prefix: str, namespace: str
) -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}{entry.namespace}:"
            yield from _walk(entry.url_patterns, prefix + _route_text(entry.pattern), ns)
            continue
        pattern = entry.pattern
        if isinstance(pattern, RoutePattern):
            converters = pattern.converters
            params = tuple(converters)
            int_params = frozenset(n for n, c in converters.items() if isinstance(c, IntConverter))
        else:
            params = tuple(pattern.regex.groupindex)
            int_params = frozenset()
        route = prefix + _route_text(pattern)
        # Converters of enclosing include()s are part of the route too.
        outer = tuple(n for n in re.findall(r"<(?:\w+:)?(\w+)>", prefix) if n not in params)
        outer_int = frozenset(re.findall(r"<int:(\w+)>", prefix))
        yield Route(
            route=route,
            name=f"{namespace}{entry.name}" if entry.name else None,
            callback=entry.callback,
            pattern=pattern,
            params=outer + params,
            int_params=int_params | outer_int,
        )


def all_routes() -> list[Route]:
    """Return every URL pattern of ROOT_URLCONF, in resolver order."""
    return list(_walk(get_resolver().url_patterns, "", ""))


def default_values(route: Route, *, int_value: int = 1) -> dict[str, Any]:
    """Return a plausible value for each parameter of `route`."""
    values: dict[str, Any] = {}
    for name in route.params:
        if name in route.int_params:
            values[name] = int_value
        elif name == "app_label":
            values[name] = "balances"
        elif name in ("uidb64",):
            values[name] = "MQ"
        elif name == "group":
            values[name] = "depository"  # a dashboard group of accounts
        else:
            values[name] = "1"
    return values


def fills(route: Route, candidates: Sequence[int]) -> Iterator[dict[str, Any]]:
    """Yield parameter values that put each candidate id into each int parameter."""
    base = default_values(route)
    int_params = [n for n in route.params if n in route.int_params]
    for combo in itertools.product(candidates, repeat=len(int_params)):
        yield {**base, **dict(zip(int_params, combo, strict=True))}
