"""Training to action requests (rule PP5) becomes a kind of the one training record: the records
the requests app kept apart (access_requests.TrainingRecord) move here, kind "actioning"."""

import django.db.models.deletion
from django.db import migrations, models


def move_request_training(apps, schema_editor):
    Old = apps.get_model("access_requests", "TrainingRecord")
    New = apps.get_model("identity", "TrainingRecord")
    New.objects.bulk_create([
        New(person_id=row.person_id, kind="actioning", service_id=row.service_id, completed_on=row.completed_on,
            valid_until=row.valid_until, note="", recorded_by_label="moved from the requests app's training records",
            recorded_at=row.recorded_at)
        for row in Old.objects.all().iterator()
    ], batch_size=1000)


class Migration(migrations.Migration):

    dependencies = [
        ('identity', '0001_initial'),
        ('access_requests', '0002_servicepolicy'),
        ('directory', '0001_initial'),
    ]

    operations = [
        migrations.AlterField(
            model_name='trainingrecord',
            name='kind',
            field=models.CharField(choices=[('ig', 'Information governance (IG) training'), ('ra_agent', 'RA agent training'), ('actioning', 'Training to action requests')], max_length=20),
        ),
        migrations.AddField(
            model_name='trainingrecord',
            name='service',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='directory.service'),
        ),
        migrations.AddField(
            model_name='trainingrecord',
            name='valid_until',
            field=models.DateField(blank=True, null=True),
        ),
        # No way back: undone, the actioning records would lose their service and PP5 training would
        # be gone without a word; refused instead.
        migrations.RunPython(move_request_training),
    ]
