# Listener.payload_format (issue 10).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('durian', '0002_delivery_engine'),
    ]

    operations = [
        migrations.AddField(
            model_name='listener',
            name='payload_format',
            field=models.CharField(choices=[('flat', 'flat'), ('standard', 'standard')], default='flat', help_text="flat: the event's fields; standard: {type, timestamp, data} (Standard Webhooks).", max_length=10, verbose_name='payload format'),
        ),
    ]
