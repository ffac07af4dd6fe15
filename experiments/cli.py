"""The one exit convention of every entry point, and the flags they share.

Exit status (README, "Exit status"):
  0    done.
  1    an input was refused (a file, a config value, an output that must not be replaced), or some files of a folder
       failed: one `error: <file or flag>: <problem>` line each on stderr, no traceback. The library raises
       `genmimic_jax.errors.InputError` for these; a `ValueError` (what the training code's config checks raise) is
       reported the same way.
  2    the command line is wrong (unknown flag or config field, a value of the wrong type, a missing flag).
  130  interrupted (Ctrl-C): one `interrupted` line; no half-written output is left.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

from absl import app, flags, logging
from ml_collections import config_flags

from genmimic_jax.errors import one_line

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def print_error(error: BaseException | str) -> None:
    """Prints `error: <one line>` to stderr."""
    print(f"error: {error if isinstance(error, str) else one_line(error)}", file=sys.stderr, flush=True)


def exit_status(body: Callable[[], int | None]) -> int:
    """Runs an entry point's body and maps what it raises to the exit convention above."""
    try:
        status = body()
    except app.UsageError as error:
        print_error(error)
        return EXIT_USAGE
    except ValueError as error:  # InputError, and the config checks of the training code
        print_error(error)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    return status or EXIT_OK


def parse_flags(argv: list[str]) -> list[str]:
    """absl flag parsing with any error (unknown flag or config field, bad value) as one line and exit status 2."""
    try:
        return flags.FLAGS(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        sys.exit(EXIT_INTERRUPTED)
    except (flags.Error, AttributeError, KeyError, TypeError, ValueError) as error:
        print_error(_flag_problem(error, argv[1:]))
        sys.exit(EXIT_USAGE)


def _flag_problem(error: Exception, args: list[str]) -> str:
    if isinstance(error, (AttributeError, KeyError)):  # ml_collections: an unknown field of an overridden config
        field = one_line(error).strip("\"'")
        culprit = next((arg for arg in args if re.search(rf"\.{re.escape(field)}(=|\.|$)", arg)), None)
        return f"{culprit or '--config'}: no config field {field!r} (see the config file for the fields)"
    return one_line(error)


def run(main: Callable[[list[str]], int | None]) -> None:
    """`app.run(main)` under the exit convention: flags parsed by `parse_flags`, `main` under `exit_status`; absl
    logs at WARNING unless `--verbosity` is given (orbax logs every checkpoint file it reads or writes at INFO, and
    PyOpenGL its set-up)."""

    def body(argv: list[str]) -> int:
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)
        return exit_status(lambda: main(argv))

    app.run(body, flags_parser=parse_flags)


def no_arguments(argv: list[str]) -> None:
    """Refuses positional arguments (exit status 2)."""
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")


def _define_once(name: str, define: Callable[[], flags.FlagHolder]) -> flags.FlagHolder:
    """`define()`, or the holder of the flag already defined under `name`: entry points share flag names, and a
    process (a test session) may import several of them."""
    if name in flags.FLAGS:
        return flags.FlagHolder(flags.FLAGS, flags.FLAGS[name])
    return define()


def define_config(default_file: str, help_text: str) -> flags.FlagHolder:
    """The `--config` flag (an ml_collections config file; one per process, so the first definition stands).

    ml_collections reads the `--config.<field>` overrides of `sys.argv` here, at definition; an unknown field is one
    line and exit status 2.
    """
    try:
        return _define_once("config", lambda: config_flags.DEFINE_config_file("config", default_file, help_text))
    except (AttributeError, KeyError) as error:
        print_error(_flag_problem(error, sys.argv[1:]))
        sys.exit(EXIT_USAGE)


def define_string(name: str, help_text: str, default: str | None = None) -> flags.FlagHolder:
    """A string flag shared by several entry points (`--input`, `--output`)."""
    return _define_once(name, lambda: flags.DEFINE_string(name, default, help_text))


def define_overwrite() -> flags.FlagHolder:
    """`--overwrite`: allow outputs to replace existing files of another kind (never an input of the same run)."""
    return _define_once("overwrite", lambda: flags.DEFINE_boolean(
        "overwrite", False, "Replace existing files of another kind at the output paths (never an input)."))
