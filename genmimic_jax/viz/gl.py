"""Choosing MuJoCo's offscreen OpenGL backend before `mujoco` is imported (it reads MUJOCO_GL at import)."""

from __future__ import annotations

import os
import subprocess
import sys

BACKENDS = ("egl", "osmesa")
MISSING_HINT = ("no OpenGL library for offscreen rendering: install one (Debian/Ubuntu: apt-get install libegl1, or "
                "libosmesa6) or set MUJOCO_GL=egl|osmesa|glfw")
_PROBE = "import mujoco; context = mujoco.GLContext(8, 8); context.make_current(); context.free()"


def select_gl_backend() -> str | None:
    """Sets MUJOCO_GL to the first backend that can make a context (egl, then osmesa) and returns it, or None.

    Keeps a MUJOCO_GL that is already set. Probes in subprocesses, so a missing library cannot break this process.
    """
    if os.environ.get("MUJOCO_GL"):
        return os.environ["MUJOCO_GL"]
    for backend in BACKENDS:
        env = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}
        probe = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, timeout=120)
        if probe.returncode == 0:
            os.environ["MUJOCO_GL"] = backend
            os.environ.setdefault("PYOPENGL_PLATFORM", backend)
            return backend
    return None
