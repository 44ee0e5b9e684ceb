import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("hdms_platform", "0003_idempotency_key"),
    ]

    operations = [
        migrations.CreateModel(
            name="ReceivedEvent",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("subscriber", models.CharField(max_length=64)),
                ("event_id", models.UUIDField()),
                ("received_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
            ],
            options={
                "db_table": "hdms_received_event",
                "constraints": [models.UniqueConstraint(fields=("subscriber", "event_id"), name="hdms_received_event_once")],
            },
        ),
    ]
