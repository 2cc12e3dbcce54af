"""The credentials app's periodic jobs (`careaccess worker` imports this module)."""

from careaccess.core.outbox.jobs import register

from . import signin

register("credentials.purge-challenges", 3600, signin.purge_challenges)
