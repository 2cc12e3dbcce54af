"""The requests app's training records (rule PP5) now live in identity's one training record
(kind "actioning"); identity 0002 copied them across before this drops the table."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('access_requests', '0002_servicepolicy'),
        ('identity', '0002_training_to_action_requests'),
    ]

    operations = [
        migrations.DeleteModel(name='TrainingRecord'),
    ]
