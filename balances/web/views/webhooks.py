"""`POST /plaid/webhook/`: the one CSRF-exempt view. Plaid signs what it sends instead."""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from kombu.exceptions import OperationalError

from balances.plaid.webhook_verification import WebhookRejected, verify
from balances.services.webhooks import webhook_process

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def plaid_webhook(request: HttpRequest) -> HttpResponse:
    """Verify a Plaid webhook and apply it; anything unverified changes nothing.

    200: applied, or acknowledged and ignored (unknown Item or type). 400/401: refused.
    503: verified but could not be processed now (Plaid delivers it again; applying it
    twice is harmless).
    """
    try:
        payload = verify(body=request.body, header=request.headers.get("Plaid-Verification"))
    except WebhookRejected as exc:
        logger.warning("Plaid webhook refused (%s): %s", exc.status, exc)
        return JsonResponse({"error": "webhook not verified"}, status=exc.status)
    try:
        result = webhook_process(payload=payload)
    except (OperationalError, DatabaseError):
        logger.exception("Plaid webhook verified but not processed: the queue or database is down")
        return JsonResponse({"error": "temporarily unavailable"}, status=503)
    return JsonResponse({"handled": result.handled, "detail": result.detail})
