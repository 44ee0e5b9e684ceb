"""The `migrations` alias is the same database reached through PgBouncer's session-mode entry."""

from __future__ import annotations

from typing import Any


class PrimaryRouter:
    def db_for_read(self, model: type, **hints: Any) -> str:
        return "default"

    def db_for_write(self, model: type, **hints: Any) -> str:
        return "default"

    def allow_relation(self, obj1: object, obj2: object, **hints: Any) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return True
