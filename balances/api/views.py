"""The API's endpoints: thin, they read through selectors and write through services.

Every one needs a token or the signed-in session; another user's object is a 404, the
same as a missing one. A token sees what its user sees: `view=household` on the lists and
totals adds what others share with the user, and an account shared with them opens by its
id, read-only. Writes: to an object not visible to the user, 404 (as if missing); to one
shared with them but not theirs, 403 (they can see it, they may not change it). A
connection (Plaid Item) is never shared: another user's is always a 404. Responses are
never cached by a browser or a proxy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from kombu.exceptions import OperationalError
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError, PermissionDenied
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.json import strict_constant
from rest_framework.views import APIView

from balances.api import serializers as shapes
from balances.api.errors import InvalidParameter, Unavailable
from balances.api.schema import BearerTokenScheme  # noqa: F401 (registers the scheme)
from balances.domain import periods
from balances.domain.totals import totals_by_currency
from balances.models import Account, ManualAccount
from balances.selectors import accounts, history, households
from balances.services import manual_accounts
from balances.services.queueing import item_queue_refresh_now
from balances.shared_state.api import SharedStateUnavailable

ERRORS = {
    401: OpenApiResponse(shapes.ErrorSerializer, description="No token, or a refused one."),
    429: OpenApiResponse(
        shapes.ErrorSerializer, description="Too many requests: see `Retry-After`."
    ),
}
NOT_FOUND = {404: OpenApiResponse(shapes.ErrorSerializer, description="No such object.")}
BAD_INPUT = {400: OpenApiResponse(shapes.ErrorSerializer, description="A bad parameter.")}
BAD_BODY = {
    400: OpenApiResponse(
        shapes.FieldErrorsSerializer, description="A bad body: `errors` says what, per field."
    )
}
WRITE_REFUSED = {
    403: OpenApiResponse(
        shapes.ErrorSerializer,
        description="A read-only token, no CSRF token, or an account only shared with you.",
    )
}
VIEW = OpenApiParameter(
    "view",
    OpenApiTypes.STR,
    enum=["mine", "household"],
    description="mine (default): your accounts; household: yours and those shared with you "
    "(each account once, each with its `owner`).",
)
RANGE = OpenApiParameter(
    "range",
    OpenApiTypes.STR,
    enum=list(periods.RANGES),
    description=f"Days covered, ending today (default {periods.DEFAULT_RANGE}).",
)


class ApiView(APIView):
    """An endpoint of the API: JSON out, never cached."""

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "private, no-store"
        return response

    @property
    def me(self) -> User:
        user = self.request.user
        assert isinstance(user, User)  # IsAuthenticated ran first  # noqa: S101
        return user


class Pages(PageNumberPagination):
    """`?page=N` of `?page_size=` rows (default 100, at most 1,000)."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


def _range(request: Request) -> tuple[str, date, date | None]:
    """Return the range key, today and the range's first day (None: all history)."""
    key = request.query_params.get("range", periods.DEFAULT_RANGE)
    if key not in periods.RANGES:
        raise InvalidParameter(f"range must be one of {', '.join(periods.RANGES)}.")
    today = timezone.localdate(timezone=timezone.get_default_timezone())  # the books' days
    return key, today, periods.range_start(key, today=today)


def _household(request: Request) -> bool:
    """Return whether `view` asks for the household view (400 for an unknown view)."""
    view = request.query_params.get("view", "mine")
    if view not in ("mine", "household"):
        raise InvalidParameter("view must be mine or household.")
    return view == "household"


def _int(value: str, name: str) -> int:
    if not value.isdigit() or len(value) > 18:
        raise InvalidParameter(f"{name} must be a connection id (a positive whole number).")
    return int(value)


class NetWorthView(ApiView):
    @extend_schema(
        operation_id="net_worth",
        summary="Net worth now, per currency",
        parameters=[VIEW],
        responses={200: shapes.NetWorthSerializer, **BAD_INPUT, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """Assets, liabilities and net worth of every open account and every account
        entered by hand, per currency (as the dashboard shows them): never converted or
        added across currencies. Cost: a fixed number of queries whatever the number of
        accounts. `as_of` is of the linked accounts' balances."""
        user = self.me
        household = _household(request)
        main_currency = accounts.main_currency_for(user=user)
        totals = totals_by_currency(
            [
                *accounts.account_balances(user=user, household=household),
                *accounts.manual_balances(user=user, household=household),
            ],
            main_currency=main_currency,
        )
        as_of = accounts.balances_as_of(user=user, household=household)
        return Response(
            {
                "as_of": as_of.isoformat() if as_of else None,
                "main_currency": main_currency,
                "totals": shapes.totals_data(totals),
            }
        )


class NetWorthHistoryView(ApiView):
    @extend_schema(
        operation_id="net_worth_history",
        summary="Net worth by day, per currency",
        parameters=[RANGE, VIEW],
        responses={200: shapes.NetWorthHistorySerializer, **BAD_INPUT, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """The daily series the dashboard's chart draws: each currency's assets,
        liabilities and net worth at the end of each day of the range."""
        key, today, start = _range(request)
        main_currency = accounts.main_currency_for(user=self.me)
        read = history.household_series if _household(request) else history.net_worth_series
        series = read(user=self.me, start=start, end=today, main_currency=main_currency)
        return Response(
            {
                "range": key,
                "start": start.isoformat() if start else None,
                "end": today.isoformat(),
                "main_currency": main_currency,
                "series": shapes.history_data(series),
            }
        )


class AccountListView(ApiView):
    @extend_schema(
        operation_id="accounts_list",
        summary="Accounts, with their latest balances",
        parameters=[
            OpenApiParameter(
                "type",
                OpenApiTypes.STR,
                enum=list(Account.Type.values),
                description="Only accounts of this type (repeat for several); a manual "
                "account's type is the group it shows in.",
                many=True,
            ),
            OpenApiParameter(
                "connection", OpenApiTypes.INT, description="Only the accounts of this connection."
            ),
            OpenApiParameter(
                "include_closed",
                OpenApiTypes.BOOL,
                description="Also the accounts the bank stopped reporting (default false).",
            ),
            VIEW,
        ],
        responses={200: shapes.AccountPageSerializer, **BAD_INPUT, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """Every open account of the user's connections, by institution and name, with its
        latest balances, then the accounts entered by hand (`source` manual, id "m<id>"),
        by name; paged (`page`, `page_size`). A fixed number of queries whatever the
        number of accounts."""
        params = request.query_params
        types = params.getlist("type")
        unknown = [t for t in types if t not in Account.Type.values]
        if unknown:
            raise InvalidParameter(f"type must be one of {', '.join(Account.Type.values)}.")
        connection = params.get("connection")
        include_closed = params.get("include_closed", "false").lower()
        if include_closed not in ("true", "false", "1", "0"):
            raise InvalidParameter("include_closed must be true or false.")
        household = _household(request)
        rows = accounts.accounts_filtered(
            user=self.me,
            types=types,
            item_id=None if connection is None else _int(connection, "connection"),
            include_closed=include_closed in ("true", "1"),
            household=household,
        )
        manual = accounts.manual_accounts_for_user(user=self.me, household=household)
        if connection is not None:
            manual = manual.none()
        elif types:
            manual = manual.filter(ManualAccount.type_q(types))
        paginator = Pages()
        page = paginator.paginate_queryset(_Chain(rows, manual), request, view=self) or []
        return paginator.get_paginated_response(
            [
                shapes.manual_account_listed(a)
                if isinstance(a, ManualAccount)
                else shapes.account_data(a)
                for a in page
            ]
        )


class _Chain:
    """Two querysets as one list for the paginator: counted with one COUNT each, a page
    read with at most one slice of each."""

    def __init__(self, first: QuerySet[Any], second: QuerySet[Any]) -> None:
        self.first, self.second = first, second
        self._counts: tuple[int, int] | None = None

    def _sizes(self) -> tuple[int, int]:
        if self._counts is None:
            self._counts = (self.first.count(), self.second.count())
        return self._counts

    def count(self) -> int:
        return sum(self._sizes())

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[Any]:
        start, stop, _ = index.indices(self.count())
        n1 = self._sizes()[0]
        rows: list[Any] = []
        if start < n1:
            rows += list(self.first[start : min(stop, n1)])
        if stop > n1:
            rows += list(self.second[max(start - n1, 0) : stop - n1])
        return rows


def _own_account(user: User, pk: int) -> Account:
    """Return account `pk` if `user` owns it or it is shared with them (read-only), else
    answer 404."""
    account = households.visible_account(user=user, pk=pk)
    if account is None:
        raise Http404("No such account.")
    return account


class AccountDetailView(ApiView):
    @extend_schema(
        operation_id="accounts_retrieve",
        summary="One account",
        responses={200: shapes.AccountSerializer, **NOT_FOUND, **ERRORS},
    )
    def get(self, request: Request, pk: int) -> Response:
        """One of the user's accounts (closed ones too), or one shared with them."""
        return Response(shapes.account_data(_own_account(self.me, pk)))


class AccountHistoryView(ApiView):
    @extend_schema(
        operation_id="accounts_history",
        summary="One account's balances by day",
        parameters=[RANGE],
        responses={200: shapes.AccountHistorySerializer, **BAD_INPUT, **NOT_FOUND, **ERRORS},
    )
    def get(self, request: Request, pk: int) -> Response:
        """The account's balances at the end of each day of the range (days before its
        first balance left out)."""
        account = _own_account(self.me, pk)
        key, today, start = _range(request)
        points = history.account_history(account=account, start=start, end=today)
        return Response(
            {
                "account": account.pk,
                "range": key,
                "start": start.isoformat() if start else None,
                "end": today.isoformat(),
                "points": shapes.account_points_data(account, points),
            }
        )


class ConnectionListView(ApiView):
    @extend_schema(
        operation_id="connections_list",
        summary="Bank connections and their state",
        responses={200: shapes.ConnectionPageSerializer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """Every bank connection (Plaid Item) of the user with its state, its error and
        what to do about it, and its open accounts' ids; paged (`page`, `page_size`)."""
        paginator = Pages()
        page = paginator.paginate_queryset(
            accounts.items_with_account_ids(user=self.me), request, view=self
        )
        return paginator.get_paginated_response(
            [
                shapes.connection_data(item, [a.pk for a in getattr(item, "open_accounts", [])])
                for item in page or []
            ]
        )


class ConnectionRefreshView(ApiView):
    @extend_schema(
        operation_id="connections_refresh",
        summary="Refresh a connection's balances now",
        request=None,
        responses={
            202: shapes.RefreshQueuedSerializer,
            403: OpenApiResponse(
                shapes.ErrorSerializer, description="A read-only token, or no CSRF token."
            ),
            **NOT_FOUND,
            409: OpenApiResponse(
                shapes.ErrorSerializer, description="The connection needs a new login."
            ),
            429: OpenApiResponse(
                shapes.RefreshRefusedSerializer,
                description="Refreshed on demand too recently (see `retry_at`, `Retry-After`),"
                " or too many requests.",
            ),
            401: ERRORS[401],
            503: OpenApiResponse(shapes.ErrorSerializer, description="Try again later."),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        """Queue a real-time refresh of one connection, within the limits of the
        dashboard's "Refresh now" (once per connection per BALANCE_REFRESH_NOW_INTERVAL).
        Needs a read-and-write token (or the signed-in session with its CSRF token)."""
        item = accounts.item_for_user(user=self.me, pk=pk)
        if item is None:
            raise Http404("No such connection.")
        try:
            outcome = item_queue_refresh_now(item=item)
        except (OperationalError, SharedStateUnavailable):
            raise Unavailable() from None
        if outcome.inactive:
            return Response(
                {"detail": f"{item.display_name} needs you to log in to the bank again first."},
                status=status.HTTP_409_CONFLICT,
            )
        if outcome.throttled:
            next_at = outcome.throttled[0][1]
            seconds = max(1, math.ceil((next_at - timezone.now()).total_seconds()))
            return Response(
                {
                    "detail": f"{item.display_name} was refreshed moments ago; the next "
                    f"refresh can run in {seconds} seconds.",
                    "retry_at": next_at.isoformat(),
                },
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(seconds)},
            )
        queued = bool(outcome.queued)
        return Response(
            {
                "connection": item.pk,
                "status": "queued" if queued else "pending",
                "detail": "Refreshing: new balances arrive in a few seconds."
                if queued
                else "A refresh is already queued or running.",
            },
            status=status.HTTP_202_ACCEPTED,
        )


class DecimalJSONParser(JSONParser):
    """JSON whose fractions are read as Decimals, never floats: 1234.56 stays exact."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", "utf-8")
        try:
            return json.loads(
                stream.read().decode(encoding),
                parse_float=Decimal,
                parse_constant=strict_constant,  # NaN, Infinity: not JSON
            )
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ParseError(f"JSON parse error - {type(exc).__name__}") from None


MANUAL_PARSERS = [DecimalJSONParser, FormParser, MultiPartParser]


def _body(request: Request, *, partial: bool) -> dict[str, Any]:
    """Return the request's body checked field by field (400 with `errors` if not)."""
    if not isinstance(request.data, Mapping):
        raise serializers.ValidationError({"non_field_errors": ["Send a JSON object."]})
    body = shapes.ManualAccountWriteSerializer(data=request.data, partial=partial)
    body.is_valid(raise_exception=True)
    return dict(body.validated_data)


def _visible_manual(user: User, pk: int) -> ManualAccount:
    """Return manual account `pk` if `user` may see it (theirs or shared), else 404."""
    account = households.visible_manual_account(user=user, pk=pk)
    if account is None:
        raise Http404("No such manual account.")
    return account


def _own_manual(user: User, pk: int) -> ManualAccount:
    """Return `user`'s manual account `pk` to change it: 403 if it is only shared with
    them (visible, not theirs), 404 if they cannot see it at all."""
    account = _visible_manual(user, pk)
    if account.owner_id != user.pk:
        raise PermissionDenied(
            f"{account.owner.username} shares this account with you to see, not to change."
        )
    return account


def _saved(write: Callable[[], ManualAccount]) -> ManualAccount:
    """Run a service write; its ValidationError becomes a 400 with `errors`."""
    try:
        return write()
    except DjangoValidationError as error:
        detail = error.message_dict if hasattr(error, "error_dict") else error.messages
        raise serializers.ValidationError(detail) from None


class ManualAccountListView(ApiView):
    parser_classes = MANUAL_PARSERS

    @extend_schema(
        operation_id="manual_accounts_list",
        summary="Accounts and assets entered by hand",
        parameters=[VIEW],
        responses={200: shapes.ManualAccountPageSerializer, **BAD_INPUT, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        """The user's accounts entered by hand, by name, with their latest values; paged
        (`page`, `page_size`)."""
        paginator = Pages()
        page = paginator.paginate_queryset(
            accounts.manual_accounts_for_user(user=self.me, household=_household(request)),
            request,
            view=self,
        )
        return paginator.get_paginated_response([shapes.manual_account_data(a) for a in page or []])

    @extend_schema(
        operation_id="manual_accounts_create",
        summary="Add an account or asset by hand",
        request=shapes.ManualAccountWriteSerializer,
        responses={
            201: shapes.ManualAccountSerializer,
            **BAD_BODY,
            **WRITE_REFUSED,
            **ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        """Create an account entered by hand with its first value (as of `as_of`, default
        today): it counts in net worth, its daily history and the accounts list. Needs a
        read-and-write token (or the session with its CSRF token)."""
        data = _body(request, partial=False)
        account = _saved(
            lambda: manual_accounts.manual_account_create(
                user=self.me,
                name=data["name"],
                kind=data["kind"],
                category=data["category"],
                currency=data["currency"],
                value=data["value"],
                as_of=data.get("as_of"),
                note=data.get("note", ""),
            )
        )
        return Response(shapes.manual_account_data(account), status=status.HTTP_201_CREATED)


class ManualAccountDetailView(ApiView):
    parser_classes = MANUAL_PARSERS

    @extend_schema(
        operation_id="manual_accounts_retrieve",
        summary="One account entered by hand",
        responses={200: shapes.ManualAccountSerializer, **NOT_FOUND, **ERRORS},
    )
    def get(self, request: Request, pk: int) -> Response:
        """One of the user's accounts entered by hand, or one shared with them."""
        return Response(shapes.manual_account_data(_visible_manual(self.me, pk)))

    @extend_schema(
        operation_id="manual_accounts_update",
        summary="Change or re-value an account entered by hand",
        request=shapes.ManualAccountWriteSerializer(partial=True),
        responses={
            200: shapes.ManualAccountSerializer,
            **BAD_BODY,
            **WRITE_REFUSED,
            **NOT_FOUND,
            **ERRORS,
        },
    )
    def patch(self, request: Request, pk: int) -> Response:
        """Change any of name, kind, category, currency and note; a `value` records a new
        dated value (as of `as_of`, default today) and keeps the earlier ones. All or
        nothing: a bad field changes nothing."""
        account = _own_manual(self.me, pk)
        data = _body(request, partial=True)
        described = {"name", "kind", "category", "currency", "note"} & set(data)

        def write() -> ManualAccount:
            updated = account
            with transaction.atomic():
                if described:
                    updated = manual_accounts.manual_account_update(
                        account=updated,
                        name=data.get("name", updated.name),
                        kind=data.get("kind", updated.kind),
                        category=data.get("category", updated.category),
                        currency=data.get("currency", updated.currency),
                        note=data.get("note", updated.note),
                    )
                if "value" in data:
                    updated = manual_accounts.manual_account_revalue(
                        account=updated, value=data["value"], as_of=data.get("as_of")
                    )
            return updated

        return Response(shapes.manual_account_data(_saved(write)))

    @extend_schema(
        operation_id="manual_accounts_destroy",
        summary="Delete an account entered by hand",
        responses={204: None, **WRITE_REFUSED, **NOT_FOUND, **ERRORS},
    )
    def delete(self, request: Request, pk: int) -> Response:
        """Delete the account and its values: it leaves net worth and every day of the
        history."""
        manual_accounts.manual_account_delete(account=_own_manual(self.me, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
