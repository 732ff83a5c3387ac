"""Outbox rows keep the trace context their event was made in (``traceparent``, ``tracestate``)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("durian", "0008_url_passwords_at_rest")]

    operations = [
        migrations.AddField(
            model_name="outboxevent",
            name="trace",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
