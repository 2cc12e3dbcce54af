"""The interop app's periodic jobs (`careaccess worker` imports this module): pruning the OpenID
Connect provider's spent codes and used client-assertion ids. Set-based and idempotent."""

from django.conf import settings

from careaccess.core.outbox.jobs import register

from .oidc import services

register("oidc.prune", settings.CAREACCESS_OIDC_PRUNE_EVERY_SECONDS, services.prune)
