# The recording preset and the annotation right move out of the meeting app's columns:
# features keep their meeting settings in ``Meeting.feature_settings`` and the rights
# organizers turn off in ``Participant.rights_off``. Stored values are carried over.

from django.db import migrations, models


def carry_over(apps, schema_editor):
    db = schema_editor.connection.alias
    Meeting = apps.get_model("meetings", "Meeting")
    Participant = apps.get_model("meetings", "Participant")
    for meeting in Meeting.objects.using(db).only("pk", "recording_preset").iterator():
        Meeting.objects.using(db).filter(pk=meeting.pk).update(feature_settings={"recording_preset": meeting.recording_preset})
    Participant.objects.using(db).filter(annotate_allowed=False).update(rights_off=["annotate"])


def carry_back(apps, schema_editor):
    db = schema_editor.connection.alias
    Meeting = apps.get_model("meetings", "Meeting")
    Participant = apps.get_model("meetings", "Participant")
    for meeting in Meeting.objects.using(db).only("pk", "feature_settings").iterator():
        preset = (meeting.feature_settings or {}).get("recording_preset", "webm_720p")
        Meeting.objects.using(db).filter(pk=meeting.pk).update(recording_preset=preset)
    for participant in Participant.objects.using(db).only("pk", "rights_off").iterator():
        if "annotate" in (participant.rights_off or []):
            Participant.objects.using(db).filter(pk=participant.pk).update(annotate_allowed=False)


class Migration(migrations.Migration):
    dependencies = [
        ("meetings", "0005_recorder_and_preset_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="meeting",
            name="feature_settings",
            field=models.JSONField(blank=True, default=dict, editable=False, verbose_name="feature settings"),
        ),
        migrations.AddField(
            model_name="participant",
            name="rights_off",
            field=models.JSONField(blank=True, default=list, editable=False, verbose_name="rights turned off"),
        ),
        migrations.RunPython(carry_over, carry_back),
        migrations.RemoveField(model_name="meeting", name="recording_preset"),
        migrations.RemoveField(model_name="participant", name="annotate_allowed"),
    ]
