import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from hdms_platform.auth.tokens import ROLES
from hdms_platform.models import CreatedModel


class UserManager(BaseUserManager["User"]):
    def create_user(self, email: str, password: str | None = None, **fields):
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields):
        fields.setdefault("roles", ["admin"])
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser):
    class Provider(models.TextChoices):
        LOCAL = "local"
        GOOGLE = "google"
        GITHUB = "github"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True)
    provider = models.CharField(max_length=16, choices=Provider.choices, default=Provider.LOCAL)
    roles = ArrayField(models.CharField(max_length=16, choices=[(r, r) for r in ROLES]), default=list)
    settings = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    objects = UserManager()

    class Meta:
        db_table = "accounts_user"

    def __str__(self) -> str:
        return self.email


class Session(CreatedModel):
    """A refresh token's server side. The token itself is never stored, only its SHA-256.

    Each refresh rotates the token into a new Session of the same `family`; presenting a
    rotated (revoked) token again revokes the whole family.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    token_hash = models.CharField(max_length=64, unique=True)
    family = models.UUIDField(default=uuid.uuid4, db_index=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        db_table = "accounts_session"
        indexes = [models.Index(fields=["user", "expires_at"], name="accounts_session_user_exp")]
