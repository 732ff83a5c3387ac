"""A listener's own headers (values sealed at rest), the payload fields it receives, and the
``cloudevents`` payload format."""

from django.db import migrations, models

import durian.core.headers
import durian.models


class Migration(migrations.Migration):
    dependencies = [("durian", "0009_event_trace_context")]

    operations = [
        migrations.AddField(
            model_name="listener",
            name="headers",
            field=durian.models.SealedHeadersField(
                blank=True,
                default=dict,
                help_text=(
                    'Extra HTTP headers sent with every delivery, such as {"Authorization": "Bearer …"}: at most '
                    "20, 4 KB in all. Values are stored sealed and shown as ***; leave *** to keep a value."
                ),
                validators=[durian.core.headers.validate_headers],
                verbose_name="headers",
            ),
        ),
        migrations.AddField(
            model_name="listener",
            name="fields",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text='The payload fields sent, such as ["name", "email"]. Empty: all of them.',
                verbose_name="fields",
            ),
        ),
        migrations.AlterField(
            model_name="listener",
            name="payload_format",
            field=models.CharField(
                choices=[("flat", "flat"), ("standard", "standard"), ("cloudevents", "cloudevents")],
                default="flat",
                help_text=(
                    "flat: the event's fields; standard: {type, timestamp, data} (Standard Webhooks); "
                    "cloudevents: a CloudEvents 1.0 structured message."
                ),
                max_length=11,
                verbose_name="payload format",
            ),
        ),
    ]
