"""Reads of the user-service."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from rest_framework import exceptions

from .models import User


def user_get(*, user_id: uuid.UUID) -> User:
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        raise exceptions.AuthenticationFailed("The account no longer exists.", code="user_inactive")
    return user


def user_list(*, role: str | None = None, search: str | None = None) -> QuerySet[User]:
    users = User.objects.order_by("email")
    if role:
        users = users.filter(roles__contains=[role])
    if search:
        users = users.filter(email__icontains=search)
    return users
