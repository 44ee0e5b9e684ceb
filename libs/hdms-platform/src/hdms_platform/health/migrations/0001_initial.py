from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="HealthProbe",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("instance", models.CharField(max_length=200, unique=True)),
                ("checked_at", models.DateTimeField()),
            ],
            options={"db_table": "hdms_health_probe"},
        ),
    ]
