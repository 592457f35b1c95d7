"""One-line, user-facing errors. Every failure a user can cause ends up as a HealError."""

from __future__ import annotations


class HealError(Exception):
    """An error with a clear one-line message; the CLI prints it without a traceback."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


class ConfigError(HealError):
    """Bad configuration (environment variable, policy or fleet file)."""


class ConnectionFailed(HealError):
    """The database could not be reached or refused the credentials."""


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text.splitlines()[0].strip()
