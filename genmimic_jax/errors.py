"""The error family for what a user gives the project: files, flags and configs.

Every refusal of user input is an `InputError` (a `ValueError`) whose message is one line naming the file (or flag)
and the problem; the entry points print it as `error: <message>` and exit with status 1 (see README, "Exit status").
"""


class InputError(ValueError):
    """A file, flag or config value the project refuses; the message names it and the problem in one line."""


class LimitError(InputError):
    """An input beyond one of the limits in `genmimic_jax.limits`; the message names the limit."""


class OutputError(InputError):
    """An output that must not or cannot be written (it would replace an input or a foreign file, or is unwritable)."""


def one_line(error: BaseException) -> str:
    """The error's message on one line (its type name when it has none)."""
    return " ".join(str(error).split()) or type(error).__name__
