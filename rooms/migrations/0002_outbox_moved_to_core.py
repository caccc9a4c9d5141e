# The outbox model now lives in ``core`` (its table stays until core's 0002 renames it).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0001_initial"),
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="OutboundEmail")],
            database_operations=[],
        ),
    ]
