"""Notifications (every alert, read or unread) and Settings → Alerts (alert choices, rules,
push channels, "Send a test alert")."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from balances.selectors import alerts as selectors
from balances.services.alerts import channels, notifications, rules
from balances.web.forms import AlertChannelForm, AlertChoicesForm, AlertRuleForm
from balances.web.views import AuthenticatedRequest

PER_PAGE = 50


@require_GET
@login_required
def notifications_list(request: AuthenticatedRequest) -> HttpResponse:
    """Every alert of the user, newest first, with how each message was delivered."""
    page = Paginator(selectors.notifications_for(user=request.user), PER_PAGE).get_page(
        request.GET.get("page")
    )
    deliveries = selectors.deliveries_by_message(
        message_ids=sorted({alert.message_id for alert in page})
    )
    rows = [(alert, deliveries.get(alert.message_id, [])) for alert in page]
    return render(
        request,
        "balances/notifications.html",
        {"page": page, "rows": rows, "email_configured": settings.EMAIL_CONFIGURED},
    )


@require_POST
@login_required
def notification_read(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Mark one of the user's alerts read (or unread again with `unread=1`); 404 otherwise."""
    alert = notifications.alert_mark(
        user=request.user, alert_id=pk, read=request.POST.get("unread") != "1"
    )
    if alert is None:
        raise Http404("No such alert.")
    return redirect("notifications")


@require_POST
@login_required
def notifications_read_all(request: AuthenticatedRequest) -> HttpResponse:
    count = notifications.alerts_mark_all_read(user=request.user)
    messages.success(request, f"{count} alert(s) marked read." if count else "No unread alerts.")
    return redirect("notifications")


def _page(
    request: AuthenticatedRequest,
    *,
    rule_form: AlertRuleForm | None = None,
    choices_form: AlertChoicesForm | None = None,
    channel_form: AlertChannelForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    context: dict[str, Any] = {
        "rule_form": rule_form or AlertRuleForm(accounts=_account_choices(request)),
        "choices_form": choices_form
        or AlertChoicesForm(instance=selectors.alert_settings_for(user=user)),
        "channel_form": channel_form or AlertChannelForm(),
        "rules": selectors.alert_rules_for(user=user),
        "channels": selectors.alert_channels_for(user=user),
        "email_configured": settings.EMAIL_CONFIGURED,
        "tests": selectors.recent_test_alerts(user=user),
    }
    return render(request, "balances/alert_settings.html", context, status=status)


def _account_choices(request: AuthenticatedRequest) -> list[tuple[int, str]]:
    return [
        (a.pk, f"{a} · {a.item.display_name} ({a.currency})")
        for a in selectors.accounts_for_rules(user=request.user)
    ]


@require_http_methods(["GET", "POST"])
@login_required
def alert_settings(request: AuthenticatedRequest) -> HttpResponse:
    """GET: the alert settings page. POST: save which connection alerts the user gets."""
    if request.method == "GET":
        return _page(request)
    form = AlertChoicesForm(request.POST)
    if not form.is_valid():
        return _page(request, choices_form=form, status=400)
    rules.alert_settings_update(user=request.user, **form.cleaned_data)
    messages.success(request, "Alert choices saved.")
    return redirect("alert_settings")


@require_POST
@login_required
def alert_rule_add(request: AuthenticatedRequest) -> HttpResponse:
    """Add a rule; on bad input show the page again with the errors (nothing saved)."""
    form = AlertRuleForm(request.POST, accounts=_account_choices(request))
    if form.is_valid():
        data = form.cleaned_data
        try:
            rule = rules.alert_rule_create(
                user=request.user,
                kind=data["kind"],
                scope=data["scope"],
                threshold=data["threshold"],
                account_id=data["account"],
                account_type=data["account_type"],
                balance=data["balance"],
                currency=data["currency"],
                cooldown_hours=data["cooldown_hours"],
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(None if field == "__all__" else field, errors)
        else:
            messages.success(request, f"Alert added: {rule.get_kind_display().lower()}.")
            return redirect("alert_settings")
    return _page(request, rule_form=form, status=400)


@require_POST
@login_required
def alert_rule_delete(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    if rules.alert_rule_delete(user=request.user, rule_id=pk) is None:
        raise Http404("No such alert rule.")
    messages.success(request, "Alert rule deleted.")
    return redirect("alert_settings")


@require_POST
@login_required
def alert_channel_add(request: AuthenticatedRequest) -> HttpResponse:
    """Add a push channel; an Apprise URL that does not parse gets an error (nothing saved)."""
    form = AlertChannelForm(request.POST)
    if form.is_valid():
        try:
            channel = channels.alert_channel_add(
                user=request.user, name=form.cleaned_data["name"], url=form.cleaned_data["url"]
            )
        except ValidationError as exc:
            form.add_error("url", exc)
        else:
            messages.success(request, f"Channel “{channel.name}” ({channel.hint}) added.")
            return redirect("alert_settings")
    return _page(request, channel_form=form, status=400)


@require_POST
@login_required
def alert_channel_delete(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    channel = channels.alert_channel_delete(user=request.user, channel_id=pk)
    if channel is None:
        raise Http404("No such channel.")
    messages.success(request, f"Channel “{channel.name}” removed.")
    return redirect("alert_settings")


@require_POST
@login_required
def alert_channel_test(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Queue a test alert to one of the user's push channels."""
    if channels.alert_test_send(user=request.user, channel_id=pk) is None:
        raise Http404("No such channel.")
    messages.success(
        request, "Test alert queued: it arrives in a moment; its state is shown below."
    )
    return redirect("alert_settings")


@require_POST
@login_required
def alert_email_test(request: AuthenticatedRequest) -> HttpResponse:
    """Queue a test alert to the user's e-mail address."""
    if channels.alert_test_send(user=request.user, channel_id=None) is None:
        messages.error(request, "Your account has no e-mail address: ask an administrator.")
        return redirect("alert_settings")
    messages.success(request, f"Test e-mail queued to {request.user.email}.")
    return redirect("alert_settings")
