"""Seal (encrypt) listener signing secrets at rest (existing plain secrets are sealed in place), and keep
the technical detail of a failed attempt apart from the short reason clients see."""

import durian.core.signing
import durian.models
from django.db import migrations, models

from durian.core import sealing

COLUMNS = ("secret", "previous_secret")


def _rewrite(apps, schema_editor, change):
    Listener = apps.get_model("durian", "Listener")
    table = schema_editor.connection.ops.quote_name(Listener._meta.db_table)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT id, secret, previous_secret FROM {table}")
        rows = cursor.fetchall()
        for pk, *values in rows:
            new = [change(v or "") for v in values]
            if new != [v or "" for v in values]:
                cursor.execute(f"UPDATE {table} SET secret = %s, previous_secret = %s WHERE id = %s", [*new, pk])


def seal_rows(apps, schema_editor):
    _rewrite(apps, schema_editor, lambda v: v if not v or sealing.is_sealed(v) else sealing.seal(v))


def open_rows(apps, schema_editor):
    _rewrite(apps, schema_editor, sealing.unseal)


class Migration(migrations.Migration):
    dependencies = [
        ("durian", "0003_event_types"),
    ]

    operations = [
        migrations.AlterField(
            model_name="listener",
            name="secret",
            field=durian.models.SealedSecretField(
                default=durian.core.signing.generate_secret, editable=False, max_length=512, verbose_name="signing secret"
            ),
        ),
        migrations.AlterField(
            model_name="listener",
            name="previous_secret",
            field=durian.models.SealedSecretField(blank=True, editable=False, max_length=512),
        ),
        migrations.RunPython(seal_rows, open_rows),
        migrations.AddField(
            model_name="deadletter",
            name="last_error_detail",
            field=models.TextField(blank=True, help_text="For staff.", verbose_name="technical detail"),
        ),
        migrations.AddField(
            model_name="delivery",
            name="error_detail",
            field=models.TextField(blank=True, help_text="For staff.", verbose_name="technical detail"),
        ),
    ]
