"""Account pages: one account with its history, a type's accounts, every connection."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from balances.domain import periods
from balances.domain.groups import LIABILITY_GROUPS, group_key, group_label
from balances.selectors import accounts, history, households
from balances.selectors.accounts import AccountGroup
from balances.selectors.items import items_freshness
from balances.web import presenters
from balances.web.forms import clean_range, clean_view
from balances.web.views import AuthenticatedRequest

# Rows per page of the full lists (a type's accounts, the connections).
PAGE_SIZE = 100


@require_GET
@login_required
def account_detail(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Show one of the user's accounts, or one shared with them (read-only, marked with
    its owner), with its balance history; 404 for any other."""
    account = households.visible_account(user=request.user, pk=pk)
    if account is None:
        raise Http404("No such account.")
    owner = account.item.owner
    range_key = clean_range(request.GET.get("range"))
    points = history.account_history(
        account=account, start=periods.range_start(range_key), end=timezone.localdate()
    )
    context = {
        "account": account,
        "points": list(reversed(points)),
        "range_key": range_key,
        "ranges": periods.RANGES,
        "chart_data": presenters.account_chart_json(account, points),
        "utilization": presenters.utilization_percent(account),
        "available_credit": presenters.available_credit(account),
        # Someone else's account, shared with the user: nothing to act on, only figures.
        "shared_by": None if owner.pk == request.user.pk else owner.username,
    }
    return render(request, "balances/account_detail.html", context)


@require_GET
@login_required
def account_group(request: AuthenticatedRequest, group: str) -> HttpResponse:
    """List all of the user's open accounts of one dashboard group (`group`: "depository"
    for Cash, "credit", ...) by institution, PAGE_SIZE a page (GET `page`), and on the
    first page the group's accounts entered by hand; 404 for an unknown group. With
    `view=household`, the accounts shared with the user too."""
    label = group_label(group)
    if label is None:
        raise Http404("No such type of account.")
    household = clean_view(request.GET.get("view"))
    members = accounts.accounts_in_group(user=request.user, key=group, household=household)
    page = Paginator(members, PAGE_SIZE).get_page(request.GET.get("page"))
    main_currency = accounts.main_currency_for(user=request.user)
    read = accounts.account_balances_and_masks(user=request.user, household=household)
    balances = read.counted
    accounts.mark_household_copies(page.object_list, read.copies)
    manual = [
        m
        for m in accounts.manual_balances(user=request.user, household=household)
        if group_key(m) == group
    ]
    summary = accounts.group_balances(
        [*(b for b in balances if group_key(b) == group), *manual], main_currency=main_currency
    )
    shown = summary[0] if summary else AccountGroup(group, label, group in LIABILITY_GROUPS)
    if page.number == 1:
        accounts.attach_manual([shown], manual)
    context = {"group": shown, "page": page, "household": household}
    return render(request, "balances/account_group.html", context)


@require_GET
@login_required
def connections(request: AuthenticatedRequest) -> HttpResponse:
    """List all of the user's bank connections with their state, PAGE_SIZE a page."""
    items = accounts.items_for_user(user=request.user)
    page = Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"connections": items_freshness(list(page)), "page": page}
    return render(request, "balances/connections.html", context)
