import logging

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .checks import run_readiness

logger = logging.getLogger("hdms.health")


@never_cache
@require_GET
def live(request):
    return JsonResponse({"status": "ok", "service": settings.HDMS_SERVICE})


@never_cache
@require_GET
def ready(request):
    checks = run_readiness(list(settings.HDMS_READINESS))
    failed = sorted(name for name, result in checks.items() if not result["ok"])
    for name in failed:
        # The reason (exception text, host names, ports) goes to the log, never into the answer:
        # readiness is reachable by anyone who can reach the service.
        logger.warning("readiness: %s failed: %s", name, checks[name].pop("error", "unknown"))
        checks[name]["error"] = "unavailable"
    body = {
        "status": "fail" if failed else "ok",
        "service": settings.HDMS_SERVICE,
        "checks": checks,
    }
    if failed:
        body["failed"] = failed
    return JsonResponse(body, status=503 if failed else 200)
