"""The access token's plain text (and its ciphertext) never leaves the server's memory.

A full link-and-refresh flow against the offline Plaid emulator, through the real views,
services and tasks, with every log record captured at DEBUG and every Celery message
captured as it is published; then every page, export and admin page is rendered and
searched for the token.
"""

from __future__ import annotations

import json
import logging
import sys
import urllib.request
import uuid
from typing import Any

import pytest
from celery.signals import before_task_publish
from django.contrib import admin
from django.test import Client
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from balances import tasks
from balances.models import PlaidItem
from balances.plaid import client as plaid_client
from plaid_emulator import DEFAULT_CLIENT_ID, DEFAULT_SECRET
from tests.factories import UserFactory
from tests.finance.security.routes import all_routes, default_values, fills

pytestmark = pytest.mark.django_db


class Recorder:
    """Everything that left the app during the flow, as text."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.messages: list[str] = []

    def page(self, label: str, response: Any) -> Any:
        body = b"".join(response.streaming_content) if response.streaming else response.content
        headers = "\n".join(f"{k}: {v}" for k, v in response.items())
        self.pages[label] = headers + "\n\n" + body.decode(errors="replace")
        return response

    def on_publish(self, sender: Any = None, body: Any = None, headers: Any = None, **kw: Any):
        self.messages.append(json.dumps([body, headers, kw.get("properties")], default=str))


def _log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    formatters = [h.formatter for h in logging.getLogger().handlers if h.formatter]
    texts = [caplog.text]
    for record in caplog.records:
        texts.append(record.getMessage())
        texts.extend(f.format(record) for f in formatters)
    return texts


def test_token_appears_nowhere_during_link_and_refresh(
    emulator: Any, caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    rec = Recorder()
    before_task_publish.connect(rec.on_publish, weak=False)
    try:
        alice = UserFactory(username="alice")
        web = Client(raise_request_exception=False)
        web.force_login(alice)

        # Link, as the browser does after Plaid Link's onSuccess.
        rec.page("link token", web.post("/link/token/"))
        public_token = plaid_client.sandbox_public_token_create(
            "ins_109508", initial_products=["transactions"]
        )
        with django_capture_on_commit_callbacks(execute=True):
            response = web.post(
                "/link/exchange/",
                data=json.dumps({"public_token": public_token}),
                content_type="application/json",
            )
        rec.page("link exchange", response)
        assert response.status_code == 200, response.content
        item = PlaidItem.objects.get(owner=alice)
        token, ciphertext = item.access_token, item.access_token_encrypted
        assert token.startswith("access-") and token not in ciphertext

        # Refresh: the queued task (as a worker runs it), then the dashboard's button.
        tasks.refresh_item_balances.apply(args=[item.pk])
        assert item.accounts.count() == 12
        with django_capture_on_commit_callbacks(execute=True):
            rec.page("refresh", web.post("/refresh/"))

        # A failing refresh: the error path logs and stores Plaid's error.
        fault = {"error_code": "ITEM_LOGIN_REQUIRED", "item_id": item.plaid_item_id}
        inject = urllib.request.Request(  # noqa: S310 (the local emulator)
            f"{emulator.url}/emulator/faults",
            data=json.dumps(fault).encode(),
            headers={
                "Content-Type": "application/json",
                "PLAID-CLIENT-ID": DEFAULT_CLIENT_ID,
                "PLAID-SECRET": DEFAULT_SECRET,
            },
            method="POST",
        )
        with urllib.request.urlopen(inject, timeout=5) as reply:  # noqa: S310 (local emulator)
            assert reply.status == 200
        tasks.refresh_item_balances.apply(args=[item.pk])
        item.refresh_from_db()
        assert item.error_code == "ITEM_LOGIN_REQUIRED"

        # Every page and export of the user, with each of the user's object ids.
        ids = sorted(
            {item.pk, *item.accounts.values_list("pk", flat=True)}
            | set(item.calls.values_list("pk", flat=True))
        )
        for route in all_routes():
            if route.is_admin or route.is_public:
                continue
            candidates = ids if route.int_params else [0]
            for values in fills(route, candidates) if route.int_params else [default_values(route)]:
                url = route.url(values)
                response = web.get(url)
                if response.status_code == 405:
                    response = web.post(url)  # POST-only views (reconnect, unlink...)
                rec.page(f"{route.route} {url}", response)

        # Every admin page, as a superuser: lists, searches, and each object's pages.
        staff = Client(raise_request_exception=False)
        staff.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
        for route in all_routes():
            if route.is_admin and not route.params and route.route != "admin/logout/":
                url = route.url({})
                rec.page(url, staff.get(url))
        for model, model_admin in admin.site._registry.items():
            info = (model._meta.app_label, model._meta.model_name)
            base = f"/admin/{info[0]}/{info[1]}/"
            rec.page(base, staff.get(base))
            rec.page(base + "?q=a", staff.get(base, {"q": "a"}))
            for pk in model_admin.get_queryset(staff_request()).values_list("pk", flat=True)[:5]:
                for suffix in ("change/", "history/", "delete/"):
                    rec.page(f"{base}{pk}/{suffix}", staff.get(f"{base}{pk}/{suffix}"))
        rec.page("app index", staff.get("/admin/balances/"))

        # Unlinking last: it calls Plaid with the token one more time.
        rec.page("unlink", web.post(f"/items/{item.pk}/unlink/"))
    finally:
        before_task_publish.disconnect(rec.on_publish)

    # Not vacuous: the flow did render pages, publish tasks and log.
    assert len(rec.pages) > 40
    assert any("Plaid Checking" in p for p in rec.pages.values())
    assert any("refresh_item_balances" in m for m in rec.messages), rec.messages
    assert caplog.records

    for secret in (token, ciphertext):
        leaked_pages = [label for label, text in rec.pages.items() if secret in text]
        assert not leaked_pages, f"token found in {leaked_pages}"
        assert not [m for m in rec.messages if secret in m], "token in a Celery message"
        assert not [t for t in _log_texts(caplog) if secret in t], "token in a log record"


def staff_request() -> Any:
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = UserFactory(username="root")
    return request


_REPORT_SECRETS: list[str] = []


def _call_plaid(token_value: str) -> None:
    from plaid.model.accounts_balance_get_request import AccountsBalanceGetRequest

    request_model = AccountsBalanceGetRequest(access_token=token_value)
    assert request_model
    raise RuntimeError("boom")


def _refresh_item() -> None:
    access_token = f"access-sandbox-{uuid.uuid4()}"
    _REPORT_SECRETS.append(access_token)
    _call_plaid(access_token)


def test_error_reports_hide_tokens_and_plaid_sdk_objects(rf: Any, settings: Any) -> None:
    """A 500 report (e-mail or debug page) shows frame locals: none may carry a token."""
    try:
        _refresh_item()
    except RuntimeError:
        reporter = ExceptionReporter(rf.get("/"), *sys.exc_info())
    html = reporter.get_traceback_html()
    assert "_call_plaid" in html and "request_model" in html  # frames and locals are shown
    assert _REPORT_SECRETS[-1] not in html
    assert _REPORT_SECRETS[-1] not in reporter.get_traceback_text()

    # Not vacuous: Django's own filter would have shown it.
    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = "django.views.debug.SafeExceptionReporterFilter"
    reporter.filter = SafeExceptionReporterFilter()
    assert _REPORT_SECRETS[-1] in reporter.get_traceback_html()


def _failed_query_with(value: str) -> tuple[Any, Any, Any]:
    """Run a query that fails with `value` among its SQL parameters; return exc_info."""
    from django.db import DatabaseError, connection, transaction

    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT %s FROM no_such_table", [value])
    except DatabaseError:
        return sys.exc_info()
    raise AssertionError("the query did not fail")


def test_error_reports_hide_the_ciphertext_in_sql_parameters(rf: Any, settings: Any) -> None:
    """The technical 500 page (DEBUG) and the e-mailed report show a failed query's `params`
    and the exception's text: an encrypted access token must be in neither."""
    from django.views.debug import technical_500_response

    from tests.factories import PlaidItemFactory

    ciphertext = PlaidItemFactory().access_token_encrypted
    exc_info = _failed_query_with(ciphertext)
    request = rf.get("/admin/balances/plaiditem/", {"q": ciphertext})
    page = technical_500_response(request, *exc_info).content.decode()
    assert "no_such_table" in page and "params" in page  # the frame and its locals show
    assert ciphertext not in page and ciphertext[:40] not in page
    from django.views.debug import get_exception_reporter_class

    text = get_exception_reporter_class(request)(request, *exc_info).get_traceback_text()
    assert ciphertext[:40] not in text

    # Not vacuous: Django's own reporter would have shown it.
    assert ciphertext in ExceptionReporter(request, *exc_info).get_traceback_html()
