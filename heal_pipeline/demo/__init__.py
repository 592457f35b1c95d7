"""The demo estate: an ~80-table SaaS database with planted issues, and the app that queries it."""

from .estate import (
    APP_DIR,
    ESTATE_DIR,
    MIGRATIONS_DIR,
    EstateError,
    build_estate,
    estate_dsn,
    load_planted,
)

__all__ = [
    "APP_DIR",
    "ESTATE_DIR",
    "MIGRATIONS_DIR",
    "EstateError",
    "build_estate",
    "estate_dsn",
    "load_planted",
]
