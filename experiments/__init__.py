"""Runnable entry points: `python -m experiments.<name>` (absl apps; configs in `configs/`)."""

import os
import sys


def _one_line_interrupt(kind, value, traceback):
    """Ctrl-C before an entry point's main runs (e.g. while JAX imports): one line, not a traceback."""
    if issubclass(kind, KeyboardInterrupt):
        print("interrupted", file=sys.stderr)
    else:
        sys.__excepthook__(kind, value, traceback)


sys.excepthook = _one_line_interrupt

import jax  # noqa: E402

# MJX environments and their training steps take minutes to compile on a CPU. With GENMIMIC_JAX_CACHE=<folder>,
# compiled programs are kept there and a later run with the same shapes loads them (measured: 87 s -> 18 s for four
# MJX steps). Off by default: XLA:CPU warns on every load, and a CPU program cached on one machine type can crash
# (SIGILL) on another that shares the folder.
_CACHE_DIR = os.environ.get("GENMIMIC_JAX_CACHE")
if _CACHE_DIR:
    jax.config.update("jax_compilation_cache_dir", _CACHE_DIR)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 2.0)
