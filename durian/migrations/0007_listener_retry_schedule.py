"""A listener's own retry schedule: delays in seconds before each retry (null: DURIAN_RETRY_SCHEDULE)."""

from django.db import migrations, models

import durian.core.schedule


class Migration(migrations.Migration):
    dependencies = [("durian", "0006_ordered_listeners")]

    operations = [
        migrations.AddField(
            model_name="listener",
            name="retry_schedule",
            field=models.JSONField(
                blank=True,
                null=True,
                help_text=(
                    "Delays in seconds before each retry, such as [10, 60, 300]: 1 to 20 delays, each between 1 s "
                    "and 7 days. Empty: the site's schedule (DURIAN_RETRY_SCHEDULE)."
                ),
                validators=[durian.core.schedule.validate_retry_schedule],
                verbose_name="retry schedule",
            ),
        ),
    ]
