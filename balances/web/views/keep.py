"""Choose which of two connections to one bank to keep (the bank was linked twice).

Until the user chooses, each shared account counts once (the older connection's copy);
keeping one removes the others sharing its accounts, at Plaid and here.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from balances.selectors.accounts import item_for_user, open_accounts
from balances.selectors.items import connection_labels, items_sharing_accounts
from balances.services import linking
from balances.web.views import AuthenticatedRequest


@require_http_methods(["GET", "POST"])
@login_required
def item_keep(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """GET: list connection `pk` and those sharing accounts with it, each with its
    accounts' masks. POST: keep `pk`, remove the others at Plaid and here."""
    item = item_for_user(user=request.user, pk=pk)
    if item is None:
        raise Http404("No such connection.")
    others = items_sharing_accounts(item=item)
    if not others:
        messages.info(request, f"{item.display_name} shares no account with another connection.")
        return redirect("connections")
    if request.method == "POST":
        try:
            removed = linking.item_keep(keep=item)
        except linking.LinkError as exc:
            messages.error(request, str(exc))
            return redirect("item_keep", pk=pk)
        messages.success(
            request,
            f"Kept {item.display_name}; removed {', '.join(removed)}. "
            "Each account now counts once, from the connection you kept.",
        )
        return redirect("dashboard")
    connections = [item, *others]
    labels, _ = connection_labels(connections)
    choices = [
        {
            "item": c,
            "label": labels.get(c.pk, c.display_name),
            "accounts": open_accounts(item=c),
        }
        for c in sorted(connections, key=lambda c: (c.created_at, c.pk))
    ]
    return render(request, "balances/item_keep.html", {"item": item, "choices": choices})
