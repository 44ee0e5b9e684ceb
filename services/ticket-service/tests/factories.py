import uuid

import factory

from apps.tickets.models import Comment, Ticket


class TicketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Ticket

    subject = factory.Sequence(lambda n: f"Ticket subject {n}")
    description = "Something is broken."
    requester_id = factory.LazyFunction(uuid.uuid4)


class CommentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Comment

    ticket = factory.SubFactory(TicketFactory)
    author_id = factory.LazyFunction(uuid.uuid4)
    body = "A comment."
