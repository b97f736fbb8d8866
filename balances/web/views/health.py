"""`/healthz/` for load balancers and monitoring: no login, no secrets."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from balances.selectors.health import health_report


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Report health: 503 when this node cannot serve (no database), else 200.

    A load balancer should not take every web node out of rotation because the broker or
    beat, shared by all of them, is down: that answers 200 with status "degraded". With
    `?strict=1` (for monitoring and alerts) any failed check answers 503.
    """
    report = health_report()
    strict = request.GET.get("strict") in ("1", "true", "yes")
    failed = report["status"] == "fail" or (strict and report["status"] != "ok")
    return JsonResponse(report, status=503 if failed else 200)
