"""OpenID Connect (1 of 2): expiry instants instead of a lifetime in seconds (access tokens),
refresh tokens that expire, and client-assertion ids that can be pruned once their assertion has
expired. Rows issued before this migration get the lifetimes they would get now. (0004 alters the
tables: PostgreSQL refuses an ALTER TABLE in the transaction that updated the table's rows while
their foreign-key checks are pending.)"""

import datetime as dt

from django.conf import settings
from django.db import migrations, models
from django.db.models import F


def fill_expiry(apps, schema_editor):
    OidcToken = apps.get_model("interop", "OidcToken")
    OidcJti = apps.get_model("interop", "OidcJti")
    for seconds in OidcToken.objects.values_list("expires_in", flat=True).distinct():
        OidcToken.objects.filter(expires_in=seconds).update(expires_at=F("issued_at") + dt.timedelta(seconds=seconds))
    refresh = dt.timedelta(seconds=settings.CAREACCESS_OIDC_REFRESH_TOKEN_SECONDS)
    OidcToken.objects.filter(refresh_digest__isnull=False).update(refresh_expires_at=F("issued_at") + refresh)
    # Assertions made before this kept no expiry: an hour is Authlib's default lifetime for them.
    OidcJti.objects.update(expires_at=F("seen_at") + dt.timedelta(hours=1))


class Migration(migrations.Migration):

    dependencies = [
        ("interop", "0002_oidc"),
    ]

    operations = [
        migrations.AddField(model_name="oidctoken", name="expires_at", field=models.DateTimeField(null=True)),
        migrations.AddField(model_name="oidctoken", name="refresh_expires_at", field=models.DateTimeField(null=True)),
        migrations.AddField(model_name="oidcjti", name="expires_at", field=models.DateTimeField(null=True)),
        migrations.RunPython(fill_expiry, migrations.RunPython.noop),
    ]
