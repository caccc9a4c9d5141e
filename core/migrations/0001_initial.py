# The outbox model moved here from ``rooms`` (where 0001 created its table): this
# migration only takes it into the ``core`` state; 0002 renames the table.

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("rooms", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="OutboundEmail",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("key", models.CharField(max_length=200, unique=True, verbose_name="idempotency key")),
                        ("message_id", models.CharField(default="", editable=False, max_length=200)),
                        ("kind", models.CharField(db_index=True, max_length=40, verbose_name="kind")),
                        ("to", models.EmailField(max_length=254, verbose_name="to")),
                        ("subject", models.CharField(max_length=255, verbose_name="subject")),
                        ("body_text", models.TextField(verbose_name="text")),
                        ("body_html", models.TextField(verbose_name="HTML")),
                        (
                            "status",
                            models.CharField(
                                choices=[("pending", "Pending"), ("sending", "Sending"), ("sent", "Sent"), ("failed", "Failed")],
                                db_index=True,
                                default="pending",
                                max_length=10,
                                verbose_name="status",
                            ),
                        ),
                        ("attempts", models.PositiveSmallIntegerField(default=0, verbose_name="attempts")),
                        ("last_error", models.TextField(blank=True, verbose_name="last error")),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name="created")),
                        ("claimed_at", models.DateTimeField(blank=True, editable=False, null=True)),
                        ("sent_at", models.DateTimeField(blank=True, null=True, verbose_name="sent")),
                    ],
                    options={
                        "verbose_name": "e-mail",
                        "verbose_name_plural": "e-mail outbox",
                        "ordering": ["-created_at"],
                        "db_table": "rooms_outboundemail",
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
