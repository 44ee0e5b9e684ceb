from apps.accounts.models import User
from hdms_platform.testing.seed import DEV_PASSWORD, USERS, SeedCommand


class Command(SeedCommand):
    def seed(self) -> int:
        created = 0
        for user_id, email, roles in USERS.values():
            if not User.objects.filter(id=user_id).exists():
                User.objects.create_user(email, DEV_PASSWORD, id=user_id, roles=roles)
                created += 1
        return created
