"""Offscreen videos (in a subprocess, where MUJOCO_GL can still be chosen; skipped without OpenGL)."""

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
    out = sys.argv[2]
    render.render(data["qpos"], 10.0, out + "/clip.gif", data["points"], width=160, height=120, point_radius=0.08)
    render.render(data["qpos"][:2], 10.0, out + "/fall.mp4", reference_qpos=data["qpos"], skeleton=data["skeleton"],
                  failed_at=2, width=160, height=120)
    try:
        render.render(data["qpos"], 10.0, out + "/clip.avi")
    except ValueError as error:
        print("rejected:", error)
""")


@pytest.fixture(scope="module")
def gl_backend() -> str:
    backend = os.environ.get("MUJOCO_GL") or gl.select_gl_backend()
    if backend is None:
        pytest.skip("no OpenGL backend (egl or osmesa) for offscreen rendering: " + gl.MISSING_HINT)
    return backend


def test_videos_headless(tmp_path, gl_backend):
    qpos = np.tile(g1_model.default_qpos(), (4, 1)).astype(np.float32)
    qpos[:, 0] = [0.0, 0.1, 0.2, 0.3]
    qpos[1:, 7 + 15] = 1.5  # left shoulder pitch
    points = np.zeros((4, 2, 3), np.float32)
    points[:, :, 1:] = (0.6, 0.5)  # beside the robot
    skeleton = np.zeros((4, 24, 3), np.float32)
    skeleton[:, :, 2] = np.linspace(0.1, 1.6, 24)
    np.savez(tmp_path / "traj.npz", qpos=qpos, points=points, skeleton=skeleton)
    env = {**os.environ, "MUJOCO_GL": gl_backend, "PYOPENGL_PLATFORM": gl_backend}
    done = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "traj.npz"), str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rejected:" in done.stdout and ".avi" in done.stdout
    frames = np.asarray(imageio.mimread(tmp_path / "clip.gif"))
    assert frames.shape[0] == 4 and frames.shape[1:3] == (120, 160)
    assert frames[0].std() > 5  # not a blank image
    assert np.abs(frames[1].astype(float) - frames[0]).mean() > 0.5  # the arm moved
    rgb = frames.astype(int)
    green = (rgb[..., 1] > 150) & (rgb[..., 1] - rgb[..., 0] > 60) & (rgb[..., 1] - rgb[..., 2] > 40)
    assert green.any()  # the overlay spheres are drawn
    # The fallen robot's video runs the whole reference (4 frames, not 2), marked red from the fall on.
    video = np.asarray([frame for frame in imageio.get_reader(tmp_path / "fall.mp4", format="FFMPEG")])
    assert video.shape == (4, 120, 160, 3)
    red = (video[:, :4, :, 0] > 150) & (video[:, :4, :, 1] < 90)
    assert not red[:2].mean() > 0.5 and (red[2:].mean(axis=(1, 2)) > 0.5).all()
