"""GET /api/v1/audit/<service>/: one service's audit entries, for admins (everyone else 403/401)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hdms_platform.auth.tokens import IsAdmin
from hdms_platform.models import AuditEntry
from hdms_platform.web.pagination import Pagination


class AuditEntryOutput(serializers.ModelSerializer[AuditEntry]):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "occurred_at",
            "actor_id",
            "action",
            "target_type",
            "target_id",
            "outcome",
            "client_address",
            "request_id",
            "details",
        ]


class AuditFilters(serializers.Serializer[dict[str, Any]]):
    actor = serializers.UUIDField(required=False)
    action = serializers.CharField(max_length=64, required=False, help_text="exact, or a prefix ending in '.' (auth.)")
    target_type = serializers.CharField(max_length=32, required=False)
    target_id = serializers.CharField(max_length=64, required=False)
    outcome = serializers.ChoiceField(choices=AuditEntry.Outcome.choices, required=False)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


def audit_entries(filters: dict[str, Any]) -> QuerySet[AuditEntry]:
    entries = AuditEntry.objects.order_by("-occurred_at", "-id")
    if "actor" in filters:
        entries = entries.filter(actor_id=filters["actor"])
    if action := filters.get("action"):
        entries = entries.filter(action__startswith=action) if action.endswith(".") else entries.filter(action=action)
    for field in ("target_type", "target_id", "outcome"):
        if field in filters:
            entries = entries.filter(**{field: filters[field]})
    if "since" in filters:
        entries = entries.filter(occurred_at__gte=filters["since"])
    if "until" in filters:
        entries = entries.filter(occurred_at__lt=filters["until"])
    return entries


class AuditListApi(APIView):
    permission_classes = [IsAdmin]
    pagination_class = Pagination

    @extend_schema(parameters=[AuditFilters], responses={200: AuditEntryOutput(many=True)}, summary="Audit log (admins)")
    def get(self, request: Request) -> Response:
        filters = AuditFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = Pagination()
        page: list[AuditEntry] | None = paginator.paginate_queryset(audit_entries(filters.validated_data), request, view=self)
        return paginator.get_paginated_response(AuditEntryOutput(page, many=True).data)
