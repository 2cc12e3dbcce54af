"""TOTP secrets sealed at rest (credentials.sealing): a new column, every existing secret sealed
into it with the keys under var/ (made when absent), then the clear column dropped. Reversible:
going back opens each secret into the clear column again (which needs the same key file)."""

from django.db import migrations, models


def seal_secrets(apps, schema_editor):
    from careaccess.credentials import sealing

    devices = apps.get_model("credentials", "TotpDevice").objects.using(schema_editor.connection.alias)
    for pk, secret in list(devices.values_list("id", "secret")):
        devices.filter(pk=pk).update(sealed_secret=sealing.seal(secret))


def open_secrets(apps, schema_editor):
    from careaccess.credentials import sealing

    devices = apps.get_model("credentials", "TotpDevice").objects.using(schema_editor.connection.alias)
    for pk, sealed in list(devices.values_list("id", "sealed_secret")):
        devices.filter(pk=pk).update(secret=sealing.unseal(sealed))


class Migration(migrations.Migration):

    dependencies = [
        ("credentials", "0004_security_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="totpdevice",
            name="sealed_secret",
            field=models.CharField(default="", max_length=255),
            preserve_default=False,
        ),
        migrations.RunPython(seal_secrets, open_secrets),
        # A default for the clear column, so that going back can add it again before filling it.
        migrations.AlterField(
            model_name="totpdevice",
            name="secret",
            field=models.CharField(default="", max_length=64),
        ),
        migrations.RemoveField(
            model_name="totpdevice",
            name="secret",
        ),
    ]
