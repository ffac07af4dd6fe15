"""The offscreen renderer (in a subprocess, where MUJOCO_GL can still be chosen; skipped without OpenGL)."""

import os
import subprocess
import sys
import textwrap

import imageio.v2 as imageio
import numpy as np
import pytest

from genmimic_jax.robot.g1 import model as g1_model
from genmimic_jax.viz import gl

_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from genmimic_jax.viz import render
    data = np.load(sys.argv[1])
    render.render(data["qpos"], 10.0, sys.argv[2], data["points"], width=160, height=120)
    try:
        render.render(data["qpos"], 10.0, sys.argv[2] + ".avi")
    except ValueError as error:
        print("rejected:", error)
""")


def test_render_gif_with_overlay(tmp_path):
    backend = gl.select_gl_backend() if "MUJOCO_GL" not in os.environ else os.environ["MUJOCO_GL"]
    if backend is None:
        pytest.skip("no OpenGL backend (egl or osmesa) for offscreen rendering")
    qpos = np.tile(g1_model.default_qpos(), (3, 1)).astype(np.float32)
    qpos[:, 0] = [0.0, 0.1, 0.2]
    qpos[1:, 7 + 15] = 1.5  # left shoulder pitch
    points = np.zeros((3, 2, 3), np.float32)
    points[:, :, 2] = 0.5
    np.savez(tmp_path / "traj.npz", qpos=qpos, points=points)
    env = {**os.environ, "MUJOCO_GL": backend, "PYOPENGL_PLATFORM": backend}
    done = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "traj.npz"), str(tmp_path / "clip.gif")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rejected:" in done.stdout and ".avi" in done.stdout
    frames = np.asarray(imageio.mimread(tmp_path / "clip.gif"))
    assert frames.shape[0] == 3 and frames.shape[1:3] == (120, 160)
    assert frames[0].std() > 5  # not a blank image
    assert np.abs(frames[1].astype(float) - frames[0]).mean() > 0.5  # the arm moved
    green = (frames[..., 1] > 150) & (frames[..., 0] < 100) & (frames[..., 2] < 100)
    assert green.any()  # the overlay spheres are drawn
