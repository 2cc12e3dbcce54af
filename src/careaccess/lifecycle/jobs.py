"""The lifecycle sweeps as the worker's periodic jobs (`careaccess worker` imports this module).
Each is idempotent and set-based, so two workers running one at once change each row once."""

from careaccess.core.outbox.jobs import register

from . import policy, sweeps


def _job(kind: str):
    def run():
        return sweeps.run(kind)

    run.__name__ = f"sweep_{kind.replace('-', '_')}"
    return run


for _kind in sweeps.SWEEPS:
    register(f"lifecycle.{_kind}", policy.sweep_every_seconds(), _job(_kind))
