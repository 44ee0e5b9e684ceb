from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []  # type: ignore[var-annotated]

    operations = [
        migrations.CreateModel(
            name="RateCounter",
            fields=[
                ("key", models.CharField(max_length=120, primary_key=True, serialize=False)),
                ("hits", models.PositiveIntegerField()),
                ("expires_at", models.DateTimeField(db_index=True)),
            ],
            options={"db_table": "hdms_rate_counter"},
        ),
    ]
