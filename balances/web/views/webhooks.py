"""`POST /plaid/webhook/`: the one CSRF-exempt view. Plaid signs what it sends instead."""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError

from balances.plaid.webhook_verification import WebhookRejected
from balances.services.webhooks import webhook_receive

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def plaid_webhook(request: HttpRequest) -> HttpResponse:
    """Verify a Plaid webhook and apply it once; anything unverified changes nothing.

    200: applied, or acknowledged and ignored (unknown Item or type, a body we cannot read,
    a replay). 400/401: refused. 503: not verified or processed now (no key fetch allowed
    at the moment, Plaid or the database or the broker down): Plaid delivers it again, and
    applying it twice is harmless.
    """
    try:
        result = webhook_receive(
            body=request.body, header=request.headers.get("Plaid-Verification")
        )
    except WebhookRejected as exc:
        logger.warning("Plaid webhook refused (%s): %s", exc.status, exc)
        return JsonResponse({"error": "webhook not verified"}, status=exc.status)
    except (OperationalError, DatabaseError):
        logger.exception("Plaid webhook verified but not processed: the queue or database is down")
        return JsonResponse({"error": "temporarily unavailable"}, status=503)
    return JsonResponse({"handled": result.handled, "detail": result.detail})
