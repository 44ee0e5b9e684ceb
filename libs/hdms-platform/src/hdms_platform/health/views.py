import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from hdms_platform.health.checks import run_readiness

logger = logging.getLogger("hdms.health")


@never_cache
@require_GET
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", "service": settings.HDMS_SERVICE})


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """200 `ok`, 200 `degraded` (the background pipeline lags: still serving), or 503 `fail`."""
    checks = run_readiness(list(settings.HDMS_READINESS))
    for name, result in checks.items():
        if not result["ok"]:
            # The reason (exception text, host names, ports) goes to the log, never into the answer:
            # readiness is reachable by anyone who can reach the service.
            logger.warning("readiness: %s failed: %s", name, result.pop("error", "unknown"))
            result["error"] = "unavailable"
    failed = sorted(name for name, result in checks.items() if not result["ok"])
    degraded = any(result.get("degraded") for result in checks.values())
    body: dict[str, Any] = {
        "status": "fail" if failed else "degraded" if degraded else "ok",
        "service": settings.HDMS_SERVICE,
        "checks": checks,
    }
    if failed:
        body["failed"] = failed
    return JsonResponse(body, status=503 if failed else 200)
