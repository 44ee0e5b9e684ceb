from django.db import migrations, models
from django_migration_linter import IgnoreMigration


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0003_event_gap_check"),
    ]

    operations = [
        # Safe for a rolling deploy: the previous release's events worker inserts rows without a
        # ticket_seq (NULL), which the unique constraint allows any number of (NULLs are distinct);
        # its broadcasts lack the number and sockets send them as they come (repeats possible, no
        # loss) until it is replaced. The table is bounded by the replay window (EVENT_REPLAY_SECONDS).
        IgnoreMigration(),
        migrations.CreateModel(
            name="TicketSequence",
            fields=[
                ("ticket_id", models.UUIDField(primary_key=True, serialize=False)),
                ("last_seq", models.BigIntegerField()),
            ],
            options={
                "db_table": "conversations_ticket_sequence",
            },
        ),
        migrations.AddField(
            model_name="ticketevent",
            name="ticket_seq",
            field=models.BigIntegerField(null=True),
        ),
        # Rows stored before: numbered per ticket in their id order (the order they were stored in),
        # and each ticket's counter set to its last number.
        migrations.RunSQL(
            sql=[
                "UPDATE conversations_ticket_event e SET ticket_seq = n.seq FROM ("
                " SELECT id, row_number() OVER (PARTITION BY ticket_id ORDER BY id) AS seq FROM conversations_ticket_event"
                ") n WHERE e.id = n.id",
                "INSERT INTO conversations_ticket_sequence (ticket_id, last_seq)"
                " SELECT ticket_id, max(ticket_seq) FROM conversations_ticket_event GROUP BY ticket_id",
            ],
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AddConstraint(
            model_name="ticketevent",
            constraint=models.UniqueConstraint(fields=("ticket_id", "ticket_seq"), name="conversations_event_ticket_seq"),
        ),
    ]
