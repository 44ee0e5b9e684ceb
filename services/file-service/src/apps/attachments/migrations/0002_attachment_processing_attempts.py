from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("attachments", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="attachment",
            name="processing_attempts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
    ]
