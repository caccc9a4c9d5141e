# The outbox's table takes the kernel's name, and its content type moves along (so the
# admin's history and the permissions given on it stay).

from django.db import migrations


def move_content_type(apps, schema_editor):
    content_types = apps.get_model("contenttypes", "ContentType").objects.using(schema_editor.connection.alias)
    if not content_types.filter(app_label="core", model="outboundemail").exists():
        content_types.filter(app_label="rooms", model="outboundemail").update(app_label="core")


def move_content_type_back(apps, schema_editor):
    content_types = apps.get_model("contenttypes", "ContentType").objects.using(schema_editor.connection.alias)
    if not content_types.filter(app_label="rooms", model="outboundemail").exists():
        content_types.filter(app_label="core", model="outboundemail").update(app_label="rooms")


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("rooms", "0002_outbox_moved_to_core"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelTable(name="OutboundEmail", table=None),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
