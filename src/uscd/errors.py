"""The one exception type the CLI turns into a one-line error and a non-zero exit."""


class UscdError(Exception):
    """A user-facing error: bad input, a missing model, an invalid knob.

    The message must fit on one line and say what to do about it.
    """

    exit_code = 2


class ContextFull(UscdError):
    """A sequence would grow past the context (or a shared KV pool has no room left)."""
