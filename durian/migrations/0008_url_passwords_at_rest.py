"""Seal (encrypt) the password of listener URLs at rest, as signing secrets are (existing rows are sealed
in place); the column is longer, since a sealed password takes more room than a plain one."""

import django.core.validators
from django.db import migrations

import durian.models
from durian.core import sealing


def _rewrite(apps, schema_editor, change):
    Listener = apps.get_model("durian", "Listener")
    table = schema_editor.connection.ops.quote_name(Listener._meta.db_table)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT id, url FROM {table}")
        for pk, url in cursor.fetchall():
            new = change(url or "")
            if new != (url or ""):
                cursor.execute(f"UPDATE {table} SET url = %s WHERE id = %s", [new, pk])


def seal_rows(apps, schema_editor):
    _rewrite(apps, schema_editor, sealing.seal_url)


def open_rows(apps, schema_editor):
    _rewrite(apps, schema_editor, sealing.unseal_url)


class Migration(migrations.Migration):
    dependencies = [("durian", "0007_listener_retry_schedule")]

    operations = [
        migrations.AlterField(
            model_name="listener",
            name="url",
            field=durian.models.SealedURLField(
                max_length=3000,
                validators=[django.core.validators.MaxLengthValidator(2000)],
                verbose_name="URL",
            ),
        ),
        migrations.RunPython(seal_rows, open_rows),
    ]
