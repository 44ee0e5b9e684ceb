from apps.tickets.models import Comment, Ticket
from hdms_platform.testing.seed import TICKETS, USERS, SeedCommand


class Command(SeedCommand):
    def seed(self) -> int:
        created = 0
        agent_id = USERS["agent"][0]
        for ticket_id, requester, subject in TICKETS.values():
            ticket, was_created = Ticket.objects.get_or_create(
                id=ticket_id, defaults={"subject": subject, "requester_id": USERS[requester][0], "description": subject}
            )
            if was_created:
                created += 1
                Comment.objects.create(ticket=ticket, author_id=USERS[requester][0], body="Any news on this?")
                Comment.objects.create(ticket=ticket, author_id=agent_id, body="Looking into it.")
                Comment.objects.create(ticket=ticket, author_id=agent_id, body="Internal: check the logs.", is_internal=True)
        return created
