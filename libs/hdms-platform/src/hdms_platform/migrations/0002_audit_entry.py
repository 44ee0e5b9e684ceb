from django.db import migrations, models
from django_migration_linter import IgnoreMigration

TABLE = "hdms_audit_entry"

CREATE = f"""
CREATE TABLE {TABLE} (
    id bigserial PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor_id uuid NULL,
    action varchar(64) NOT NULL,
    target_type varchar(32) NOT NULL DEFAULT '',
    target_id varchar(64) NOT NULL DEFAULT '',
    outcome varchar(16) NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    client_address varchar(64) NOT NULL DEFAULT '',
    request_id varchar(64) NOT NULL DEFAULT '',
    details jsonb NOT NULL DEFAULT '{{}}'::jsonb
);
CREATE INDEX {TABLE}_occurred ON {TABLE} (occurred_at);
CREATE INDEX {TABLE}_actor ON {TABLE} (actor_id, occurred_at);
CREATE INDEX {TABLE}_action ON {TABLE} (action, occurred_at);
CREATE INDEX {TABLE}_target ON {TABLE} (target_type, target_id);
-- Append-only: the service's own role (the table's owner) keeps INSERT and SELECT only.
REVOKE UPDATE, DELETE, TRUNCATE ON {TABLE} FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON {TABLE} FROM CURRENT_USER;
"""


class Migration(migrations.Migration):
    dependencies = [("hdms_platform", "0001_rate_counter")]

    operations = [
        # Safe for a rolling deploy: a new table the previous release never reads. The linter reads the
        # raw SQL's NOT NULL columns, the indexes on the empty table and the reverse DROP as changes.
        IgnoreMigration(),
        migrations.CreateModel(
            name="AuditEntry",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("occurred_at", models.DateTimeField()),
                ("actor_id", models.UUIDField(null=True)),
                ("action", models.CharField(max_length=64)),
                ("target_type", models.CharField(blank=True, default="", max_length=32)),
                ("target_id", models.CharField(blank=True, default="", max_length=64)),
                (
                    "outcome",
                    models.CharField(
                        choices=[("success", "Success"), ("failure", "Failure"), ("denied", "Denied")], max_length=16
                    ),
                ),
                ("client_address", models.CharField(blank=True, default="", max_length=64)),
                ("request_id", models.CharField(blank=True, default="", max_length=64)),
                ("details", models.JSONField(blank=True, default=dict)),
            ],
            options={"managed": False, "db_table": TABLE},
        ),
        migrations.RunSQL(CREATE, reverse_sql=f"DROP TABLE {TABLE};"),
    ]
