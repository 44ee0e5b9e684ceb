from django.db import migrations, models
from django_migration_linter import IgnoreMigration


class Migration(migrations.Migration):
    dependencies = [("attachments", "0001_initial")]

    operations = [
        # NOT an example to follow: released before the linter. Django drops the column's default after
        # adding it, so the previous release's INSERTs (without the column) failed until it was gone;
        # deploying across this migration meant stopping the old file-service first. Today: db_default.
        IgnoreMigration(),
        migrations.AddField(
            model_name="attachment",
            name="processing_attempts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
    ]
