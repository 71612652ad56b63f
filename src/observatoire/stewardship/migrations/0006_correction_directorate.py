"""Corrections remember the directorate of their contract when they were made."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("stewardship", "0005_target_changes")]

    operations = [
        migrations.AddField(
            model_name="correction",
            name="directorate_id",
            field=models.CharField(blank=True, db_index=True, default="", max_length=100),
        ),
    ]
