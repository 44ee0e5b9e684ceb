"""How a ticket is shown: the one representation the API answers with and the detail cache
stores (so a cached answer and a fresh one are the same bytes)."""

from __future__ import annotations

from rest_framework import serializers

from .models import Ticket


class TicketOutput(serializers.Serializer):
    id = serializers.UUIDField()
    number = serializers.IntegerField()
    reference = serializers.CharField()
    subject = serializers.CharField()
    description = serializers.CharField()
    status = serializers.ChoiceField(choices=Ticket.Status.choices)
    priority = serializers.ChoiceField(choices=Ticket.Priority.choices)
    requester_id = serializers.UUIDField()
    assignee_id = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def serialize_ticket(ticket: Ticket) -> dict:
    return dict(TicketOutput(ticket).data)
