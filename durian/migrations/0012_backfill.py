"""Listeners' backfills (``Backfill``), the row an outbox event is about (``OutboxEvent.row``), and
whether a dead letter was sent by a backfill (``DeadLetter.backfill``)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('durian', '0011_listener_validation'),
    ]

    operations = [
        migrations.AddField(
            model_name='deadletter',
            name='backfill',
            field=models.BooleanField(default=False, verbose_name='backfilled'),
        ),
        migrations.AddField(
            model_name='outboxevent',
            name='row',
            field=models.CharField(blank=True, max_length=255, null=True),
        ),
        migrations.CreateModel(
            name='Backfill',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('state', models.CharField(choices=[('pending', 'pending'), ('running', 'running'), ('done', 'done'), ('failed', 'failed')], default='pending', max_length=10, verbose_name='state')),
                ('run', models.PositiveIntegerField(default=1, verbose_name='run')),
                ('watermark', models.CharField(blank=True, max_length=255, null=True, verbose_name='highest row')),
                ('position', models.CharField(blank=True, max_length=255, null=True, verbose_name='last row read')),
                ('total', models.PositiveIntegerField(default=0, verbose_name='rows to read')),
                ('read', models.PositiveIntegerField(default=0, verbose_name='rows read')),
                ('sent', models.PositiveIntegerField(default=0, verbose_name='events sent')),
                ('skipped', models.PositiveIntegerField(default=0, help_text='Rows whose live event, kept meanwhile, carries them.', verbose_name='rows left to live events')),
                ('error', models.TextField(blank=True, verbose_name='error')),
                ('started_at', models.DateTimeField(blank=True, null=True, verbose_name='started')),
                ('finished_at', models.DateTimeField(blank=True, null=True, verbose_name='finished')),
                ('listener', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='backfill', to='durian.listener')),
            ],
            options={
                'verbose_name': 'backfill',
                'verbose_name_plural': 'backfills',
            },
        ),
    ]
