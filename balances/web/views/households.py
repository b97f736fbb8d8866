"""Settings → Household: invite someone to see your balances (by username or e-mail address), answer
invitations, choose what each share shows, end a share.

Only a party to a share reaches it: anyone else's share is a 404, like a missing one.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from balances.models import HouseholdShare
from balances.selectors import accounts, households
from balances.services import households as sharing
from balances.web.views import AuthenticatedRequest


def _scope(request: AuthenticatedRequest) -> tuple[bool, list[str], list[str]]:
    """Return (share all, linked account ids, manual account ids) from the form."""
    return (
        request.POST.get("scope", "all") != "chosen",
        request.POST.getlist("account"),
        request.POST.getlist("manual"),
    )


def _page(request: AuthenticatedRequest, *, errors: list[str], status: int) -> HttpResponse:
    context = {
        "given": households.shares_given(user=request.user),
        "received": households.shares_received(user=request.user),
        "own_accounts": accounts.accounts_for_user(user=request.user),
        "own_manual": accounts.manual_accounts_for_user(user=request.user),
        "errors": errors,
        "username": request.POST.get("username", "")[:254],
    }
    response = render(request, "balances/household.html", context, status=status)
    response["Cache-Control"] = "private, no-store"
    return response


@require_http_methods(["GET", "POST"])
@login_required
def household(request: AuthenticatedRequest) -> HttpResponse:
    """GET: the shares given and received, invitations to answer, an invitation form.
    POST: invite `username` to see all accounts (`scope` all) or the chosen ones (`scope`
    chosen, with `account` and `manual` ids)."""
    if request.method == "GET":
        return _page(request, errors=[], status=200)
    all_accounts, account_ids, manual_ids = _scope(request)
    try:
        share = sharing.share_invite(
            owner=request.user,
            username=request.POST.get("username", ""),
            all_accounts=all_accounts,
            account_ids=account_ids,
            manual_ids=manual_ids,
        )
    except ValidationError as exc:
        return _page(request, errors=exc.messages, status=400)
    messages.success(
        request,
        f"{share.viewer.username} is invited. They see nothing until they accept, "
        "on their Settings → Household page.",
    )
    return redirect("household")


def _answer(request: AuthenticatedRequest, share: HouseholdShare | None, action: str) -> None:
    if share is None:
        raise Http404("No such share.")
    try:
        if action == "accept":
            sharing.share_accept(share=share)
            messages.success(
                request,
                f"You now see what {share.owner.username} shares, in the Household view "
                "of your dashboard.",
            )
        elif action == "decline":
            sharing.share_decline(share=share)
            messages.info(request, f"You declined {share.owner.username}'s invitation.")
        else:
            sharing.share_end(share=share)
            messages.info(request, "The share has ended: nothing of it shows any more.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))


@require_POST
@login_required
def household_accept(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Accept an invitation to you; 404 for any other."""
    _answer(request, households.share_for_viewer(user=request.user, pk=pk), "accept")
    return redirect("household")


@require_POST
@login_required
def household_decline(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Decline an invitation to you; 404 for any other."""
    _answer(request, households.share_for_viewer(user=request.user, pk=pk), "decline")
    return redirect("household")


@require_POST
@login_required
def household_end(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """End a share you give or receive (or withdraw an invitation); 404 for any other."""
    _answer(request, households.share_for_party(user=request.user, pk=pk), "end")
    return redirect("household")


@require_http_methods(["GET", "POST"])
@login_required
def household_accounts(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """GET: what a share of yours shows, as a form. POST: share all accounts (`scope`
    all) or exactly the chosen ones (`scope` chosen, `account` and `manual` ids). 404 for
    a share that is not yours to change."""
    share = households.share_for_owner(user=request.user, pk=pk)
    if share is None:
        raise Http404("No such share.")
    errors: list[str] = []
    status = 200
    if request.method == "POST":
        all_accounts, account_ids, manual_ids = _scope(request)
        try:
            sharing.share_set_accounts(
                share=share,
                all_accounts=all_accounts,
                account_ids=account_ids,
                manual_ids=manual_ids,
            )
        except ValidationError as exc:
            errors, status = exc.messages, 400
        else:
            messages.success(request, f"{share.viewer.username} now sees what you chose.")
            return redirect("household")
    context = {
        "share": share,
        "own_accounts": accounts.accounts_for_user(user=request.user),
        "own_manual": accounts.manual_accounts_for_user(user=request.user),
        "chosen": {a.pk for a in share.accounts.all()},
        "chosen_manual": {m.pk for m in share.manual_accounts.all()},
        "errors": errors,
    }
    return render(request, "balances/household_accounts.html", context, status=status)
