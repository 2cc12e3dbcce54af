"""OpenID Connect (2 of 2): the expiry instants filled by 0003 become required, clients are linked
to the directory service they speak for (rule DS18), and the indexes the nonce check, sign-out
and pruning use."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("directory", "0001_initial"),
        ("interop", "0003_oidc_expiry"),
    ]

    operations = [
        migrations.RemoveField(model_name="oidctoken", name="expires_in"),
        migrations.AlterField(model_name="oidctoken", name="expires_at", field=models.DateTimeField()),
        migrations.AlterField(model_name="oidcjti", name="expires_at", field=models.DateTimeField(db_index=True)),
        migrations.AddField(
            model_name="oidcclient",
            name="service",
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT,
                                    related_name="oidc_clients", to="directory.service"),
        ),
        migrations.AlterField(model_name="oidccode", name="created_at", field=models.DateTimeField(db_index=True)),
        migrations.AddIndex(model_name="oidccode",
                            index=models.Index(fields=["client", "nonce"], name="interop_oidccode_nonce")),
        migrations.AddIndex(model_name="oidccode",
                            index=models.Index(fields=["session_id"], name="interop_oidccode_session")),
    ]
