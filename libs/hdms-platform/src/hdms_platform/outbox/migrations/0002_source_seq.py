from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("outbox", "0001_initial")]

    operations = [
        migrations.AddField(model_name="outboxevent", name="source_seq", field=models.BigIntegerField(blank=True, null=True)),
        migrations.CreateModel(
            name="OutboxSequence",
            fields=[
                ("source", models.CharField(max_length=32, primary_key=True, serialize=False)),
                ("last_seq", models.BigIntegerField(default=0)),
            ],
            options={"db_table": "hdms_outbox_sequence"},
        ),
    ]
