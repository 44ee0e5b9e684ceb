import uuid

import factory
from django.utils import timezone

from apps.conversations.models import TicketEvent


class StoredEventFactory(factory.django.DjangoModelFactory):
    """An event as the events worker stored it (its payload matches the ticket.updated contract)."""

    class Meta:
        model = TicketEvent

    event_id = factory.LazyFunction(uuid.uuid4)
    ticket_id = factory.LazyFunction(uuid.uuid4)
    type = "ticket.updated"
    payload = factory.LazyAttribute(
        lambda o: {
            "id": str(o.event_id),
            "type": o.type,
            "ticket_id": str(o.ticket_id),
            "audience": "everyone",
            "occurred_at": timezone.now().isoformat(),
            "data": {"changes": {}, "actor_id": str(uuid.uuid4()), "status": "open", "updated_at": timezone.now().isoformat()},
        }
    )
