"""`python -m experiments.view`: refuses missing files and a missing display in one line each."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from genmimic_jax.retarget.io import RobotMotion, save_robot_motion
from genmimic_jax.robot.g1 import constants, model as g1_model

REPO = pathlib.Path(__file__).resolve().parents[1]


def _view(*args: str, display: bool = False) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    if display:
        env["DISPLAY"] = ":99"
    return subprocess.run([sys.executable, "-m", "experiments.view", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)


def _one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize("flag", ["motion", "rollout"])
def test_refuses_a_missing_file(tmp_path, flag):
    missing = tmp_path / "nothing.npz"
    motion = tmp_path / "motion.npz"
    motion.write_bytes(b"")
    args = [f"--{flag}={missing}"] + ([] if flag == "motion" else [f"--motion={motion}"])
    result = _view(*args, display=True)
    assert result.returncode == 1
    assert str(missing) in _one_error_line(result) and "no such file" in result.stderr


def test_without_a_display_points_to_the_video_option(tmp_path):
    path = tmp_path / "motion.npz"
    qpos = np.tile(g1_model.default_qpos(), (3, 1))
    save_robot_motion(RobotMotion(qpos, 30.0, np.zeros((3, len(constants.KEYPOINT_NAMES), 3))), path)
    result = _view(f"--motion={path}")
    assert result.returncode == 1
    assert "display" in _one_error_line(result) and "--video=" in result.stderr


def test_nothing_to_show_is_a_usage_error():
    result = _view()
    assert result.returncode == 2 and "--motion" in _one_error_line(result)
