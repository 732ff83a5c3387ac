"""Endpoint validation (``DURIAN_VERIFY_ENDPOINTS``): each listener's validation state.

Existing listeners start unvalidated (``validated_at`` empty) and due: with the setting on, the
workers validate them on their next sweeps, and keep their events until then.
"""

from django.db import migrations, models
from django.db.models.functions import Now


def due_now(apps, schema_editor):
    apps.get_model("durian", "Listener").objects.update(validation_next_at=Now())


class Migration(migrations.Migration):
    dependencies = [
        ("durian", "0010_listener_headers_fields"),
    ]

    operations = [
        migrations.AddField(
            model_name="listener",
            name="validation_url",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="listener",
            name="validated_at",
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name="validated"),
        ),
        migrations.AddField(
            model_name="listener",
            name="validation_checked_at",
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name="last validation attempt"),
        ),
        migrations.AddField(
            model_name="listener",
            name="validation_error",
            field=models.CharField(blank=True, editable=False, max_length=500, verbose_name="validation error"),
        ),
        migrations.AddField(
            model_name="listener",
            name="validation_attempts",
            field=models.PositiveIntegerField(default=0, editable=False, verbose_name="validation attempts"),
        ),
        migrations.AddField(
            model_name="listener",
            name="validation_next_at",
            field=models.DateTimeField(
                blank=True, db_index=True, editable=False, null=True, verbose_name="next validation attempt"
            ),
        ),
        migrations.RunPython(due_now, migrations.RunPython.noop, elidable=True),
    ]
