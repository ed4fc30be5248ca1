"""The one exception type that the CLI turns into a one-line message and an exit status."""

from __future__ import annotations


class SeedstreamError(Exception):
    """A user-facing failure: the message says what was wrong and how to fix it.

    ``exit_code`` is 2 for bad input (config, flags) and 1 for runtime failures.
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class BadInputError(SeedstreamError):
    """Bad user input: always exit status 2."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=2)
