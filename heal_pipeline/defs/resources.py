"""Dagster resources: configuration of the target database(s) and the heal store."""


import os

import dagster as dg

from ..config import Settings
from ..errors import HealError
from ..targets import Target, resolve_target, targets_from_settings


class HealResource(dg.ConfigurableResource):
    """Where heal looks (target database, source roots, logs) and where it writes (the heal store).

    ``database_url`` comes from ``EnvVar("HEAL_DATABASE_URL")`` (single target) so the DSN never
    appears in run config or the UI; with a fleet file (``HEAL_FLEET``) each target's DSN comes from
    the environment variable the file names. The other settings are the ``HEAL_*`` variables
    documented in the README.
    """

    database_url: str | None = None
    store_url: str | None = None

    def settings(self) -> Settings:
        env = dict(os.environ)
        if self.database_url:
            env["HEAL_DATABASE_URL"] = self.database_url
        if self.store_url:
            env["HEAL_STORE_URL"] = self.store_url
        try:
            return Settings.from_env(env)
        except HealError as exc:
            raise dg.Failure(description=str(exc)) from None

    def targets(self) -> dict[str, Target]:
        return targets_from_settings(self.settings())

    def target(self, name: str) -> Target:
        try:
            return resolve_target(name, self.settings())
        except HealError as exc:
            raise dg.Failure(description=str(exc)) from None
