"""Ordered listeners: one delivery at a time, in commit order."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("durian", "0005_secrets_at_rest")]

    operations = [
        migrations.AddField(
            model_name="listener",
            name="ordered",
            field=models.BooleanField(
                default=False,
                help_text=(
                    "Deliver this listener's events one at a time, in commit order: a failing event holds the ones "
                    "behind it until it succeeds or becomes a dead letter."
                ),
                verbose_name="ordered",
            ),
        ),
    ]
