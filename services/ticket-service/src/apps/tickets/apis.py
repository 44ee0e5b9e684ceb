"""HTTP API of the ticket-service: one view per operation, nested input/output serializers."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from hdms_platform.web.fastpath import FromMemory
from hdms_platform.web.idempotency import IDEMPOTENCY_KEY, idempotent
from hdms_platform.web.pagination import Pagination

from . import selectors, services
from .models import Ticket
from .representations import TicketOutput, serialize_ticket

ORDERINGS = ("updated_at", "-updated_at", "created_at", "-created_at", "number", "-number", "priority", "-priority")


class CommentOutput(serializers.Serializer):
    id = serializers.UUIDField()
    ticket_id = serializers.UUIDField()
    author_id = serializers.UUIDField()
    body = serializers.CharField()
    is_internal = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class HistoryOutput(serializers.Serializer):
    actor_id = serializers.UUIDField()
    field = serializers.CharField()
    old_value = serializers.CharField(allow_null=True)
    new_value = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class AssigneeFilter(serializers.CharField):
    """`me`, `none`, or a user id."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value == "none":
            return None
        if value == "me":
            return self.context["request"].user.id
        return serializers.UUIDField().run_validation(value)


def _paginate(request, view, queryset, output) -> dict:
    paginator = Pagination()
    page: list | None = paginator.paginate_queryset(queryset, request, view=view)
    return dict(paginator.get_paginated_response(output(page, many=True).data).data)


class TicketListCreateApi(APIView):
    pagination_class = Pagination  # also tells the OpenAPI schema that lists are paginated

    class TicketListFilters(serializers.Serializer):
        status = serializers.MultipleChoiceField(choices=Ticket.Status.choices, required=False)
        priority = serializers.MultipleChoiceField(choices=Ticket.Priority.choices, required=False)
        assignee = AssigneeFilter(required=False, help_text="me, none, or a user id")
        requester = serializers.UUIDField(required=False)
        updated_since = serializers.DateTimeField(required=False)
        search = serializers.CharField(max_length=100, required=False, help_text="in the subject")
        ordering = serializers.ChoiceField(choices=ORDERINGS, required=False, default="-updated_at")

    class TicketCreateInput(serializers.Serializer):
        subject = serializers.CharField(max_length=200)
        description = serializers.CharField(max_length=20000, required=False, allow_blank=True, default="")
        priority = serializers.ChoiceField(
            choices=Ticket.Priority.choices, required=False, help_text="agents and admins only; normal when left out"
        )
        requester_id = serializers.UUIDField(required=False, help_text="agents and admins: open on a customer's behalf")

    @extend_schema(
        parameters=[
            TicketListFilters,
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT),
        ],
        responses={200: TicketOutput(many=True)},
        summary="List tickets (paginated, filtered, cached)",
    )
    def get(self, request):
        filters = self.TicketListFilters(data=request.query_params, context={"request": request})
        filters.is_valid(raise_exception=True)
        values = {k: (sorted(v) if isinstance(v, set) else v) for k, v in filters.validated_data.items()}
        # The cached page is this HTTP page: its links name the host, the page and its size.
        page = [request.get_host(), request.query_params.get("page", "1"), request.query_params.get("page_size", "")]
        body = selectors.ticket_page(
            user=request.user, filters=values, page=page, render=lambda tickets: _paginate(request, self, tickets, TicketOutput)
        )
        return Response(body)

    @extend_schema(
        request=TicketCreateInput, responses={201: TicketOutput}, summary="Open a ticket", parameters=[IDEMPOTENCY_KEY]
    )
    @idempotent
    def post(self, request):
        data = self.TicketCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = services.ticket_create(actor=request.user, **data.validated_data)
        return Response(serialize_ticket(ticket), status=status.HTTP_201_CREATED)


class TicketDetailApi(FromMemory):
    class TicketUpdateInput(serializers.Serializer):
        subject = serializers.CharField(max_length=200, required=False)
        description = serializers.CharField(max_length=20000, required=False, allow_blank=True)
        priority = serializers.ChoiceField(choices=Ticket.Priority.choices, required=False)

        def validate(self, attrs):
            if not attrs:
                raise serializers.ValidationError("Send at least one of subject, description, priority.")
            return attrs

    def from_memory(self, user, ticket_id):
        return selectors.ticket_detail_from_memory(user=user, ticket_id=ticket_id)

    @extend_schema(responses={200: TicketOutput}, summary="One ticket (cached); 404 also when not yours")
    def get(self, request, ticket_id):
        return Response(selectors.ticket_detail(user=request.user, ticket_id=ticket_id))

    @extend_schema(request=TicketUpdateInput, responses={200: TicketOutput}, summary="Edit subject, description, priority")
    def patch(self, request, ticket_id):
        data = self.TicketUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = services.ticket_update(actor=request.user, ticket_id=ticket_id, values=data.validated_data)
        return Response(serialize_ticket(ticket))


class TicketTransitionApi(APIView):
    class TicketTransitionInput(serializers.Serializer):
        status = serializers.ChoiceField(choices=Ticket.Status.choices)

    @extend_schema(
        request=TicketTransitionInput, responses={200: TicketOutput}, summary="Change status (409 names the rule broken)"
    )
    def post(self, request, ticket_id):
        data = self.TicketTransitionInput(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = services.ticket_transition(actor=request.user, ticket_id=ticket_id, status=data.validated_data["status"])
        return Response(serialize_ticket(ticket))


class TicketAssignApi(APIView):
    class TicketAssignInput(serializers.Serializer):
        assignee_id = serializers.UUIDField(allow_null=True)

    @extend_schema(request=TicketAssignInput, responses={200: TicketOutput}, summary="Assign (agents and admins); null unassigns")
    def post(self, request, ticket_id):
        data = self.TicketAssignInput(data=request.data)
        data.is_valid(raise_exception=True)
        ticket = services.ticket_assign(actor=request.user, ticket_id=ticket_id, assignee_id=data.validated_data["assignee_id"])
        return Response(serialize_ticket(ticket))


class CommentListCreateApi(APIView):
    pagination_class = Pagination  # also tells the OpenAPI schema that lists are paginated

    class CommentCreateInput(serializers.Serializer):
        body = serializers.CharField(max_length=20000)
        is_internal = serializers.BooleanField(required=False, default=False)

    @extend_schema(responses={200: CommentOutput(many=True)}, summary="Comments; internal notes only for agents and admins")
    def get(self, request, ticket_id):
        comments = selectors.comment_list(user=request.user, ticket_id=ticket_id)
        return Response(_paginate(request, self, comments, CommentOutput))

    @extend_schema(
        request=CommentCreateInput,
        responses={201: CommentOutput},
        summary="Add a comment or an internal note",
        parameters=[IDEMPOTENCY_KEY],
    )
    @idempotent
    def post(self, request, ticket_id):
        data = self.CommentCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        comment = services.comment_add(actor=request.user, ticket_id=ticket_id, **data.validated_data)
        return Response(CommentOutput(comment).data, status=status.HTTP_201_CREATED)


class HistoryListApi(APIView):
    pagination_class = Pagination  # also tells the OpenAPI schema that lists are paginated

    @extend_schema(responses={200: HistoryOutput(many=True)}, summary="Field-level history: who, when, what, from, to")
    def get(self, request, ticket_id):
        return Response(_paginate(request, self, selectors.history_list(user=request.user, ticket_id=ticket_id), HistoryOutput))
