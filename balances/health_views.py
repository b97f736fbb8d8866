"""`/healthz/` for load balancers and monitoring: no login, no secrets."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .health import health_report


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Answer 200 when the database, broker, shared state and beat are fine, else 503."""
    healthy, report = health_report()
    return JsonResponse(report, status=200 if healthy else 503)
