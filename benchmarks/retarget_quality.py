"""Limb directions and heading of retargeted clips against the human, measured independently of the solver.

Retargets the shared Bandai Namco clips, then poses the G1 with MuJoCo (`mj_kinematics` on each output qpos, not the
solver's own keypoints) and compares, per frame, the direction of each robot limb (keypoint sites) with the human's
(joint positions), and the heading computed the same way for both: the horizontal forward direction perpendicular to
the hip-to-hip line. The robot's hip line is taken twice: through its hip keypoints ("heading"; they hang below the
hip pitch axes and swing with the hip pitch) and through its hip pitch axes, rigid in the pelvis as the human's hip
joints are ("pelvis_heading"). Prints a table per clip and writes JSON.

  python -m benchmarks.retarget_quality [--json=benchmarks/retarget_quality.json] [--config.x=y]
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import time

import mujoco
import numpy as np
from absl import app, flags
from ml_collections import config_flags

import configs.retarget
from genmimic_jax.human.bvh import load_bvh
from genmimic_jax.human.motion import HumanMotion
from genmimic_jax.human.skeleton import JOINT_INDEX as H
from genmimic_jax.retarget import pipeline
from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model

_SHARED = flags.DEFINE_string("shared_dir", str(pathlib.Path(__file__).resolve().parents[2] / "shared"),
                              "The shared folder holding motions/bandai_namco/*.bvh.")
_JSON = flags.DEFINE_string("json", "benchmarks/retarget_quality.json", "Where to write the results.")
_CONFIG = config_flags.DEFINE_config_file("config", configs.retarget.__file__, "Retargeting options.")

# (robot keypoint from, to), (human joint from, to): the same segment on both.
LIMBS = {
    f"{side}_{limb}": ((f"{side}_{a}", f"{side}_{b}"), (f"{side}_{a}", f"{side}_{b}"))
    for side in ("left", "right")
    for limb, a, b in (("upper_arm", "shoulder", "elbow"), ("forearm", "elbow", "wrist"),
                       ("thigh", "hip", "knee"), ("shin", "knee", "ankle"))
}


HIP_AXIS_BODIES = ("left_hip_pitch_link", "right_hip_pitch_link")  # origins on the hip pitch axes


def robot_pose(qpos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint site positions [T, K, 3] and hip pitch axis points [T, 2, 3] (left, right) of a qpos trajectory,
    posed by MuJoCo."""
    model = g1_model.load_model(scene=False)
    data = mujoco.MjData(model)
    sites = [model.site(name).id for name in constants.KEYPOINT_SITES]
    bodies = [model.body(name).id for name in HIP_AXIS_BODIES]
    keypoints, hip_axes = np.zeros((len(qpos), len(sites), 3)), np.zeros((len(qpos), 2, 3))
    for t, q in enumerate(qpos):
        data.qpos[:] = q
        mujoco.mj_kinematics(model, data)
        keypoints[t], hip_axes[t] = data.site_xpos[sites], data.xpos[bodies]
    return keypoints, hip_axes


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def hip_heading(left_hip: np.ndarray, right_hip: np.ndarray) -> np.ndarray:
    """Heading (rad) of the horizontal forward direction perpendicular to the right-to-left hip line."""
    across = left_hip - right_hip
    return np.arctan2(-across[:, 0], across[:, 1])  # forward = across rotated by -90 degrees about z


def _heading_error(robot_left: np.ndarray, robot_right: np.ndarray, human: HumanMotion) -> float:
    """Mean absolute difference (deg) between the robot's hip-line heading and the human's."""
    difference = (hip_heading(robot_left, robot_right)
                  - hip_heading(human.positions[:, H["left_hip"]], human.positions[:, H["right_hip"]]))
    return float(np.degrees(np.abs(np.angle(np.exp(1j * difference)))).mean())


def evaluate(human: HumanMotion, qpos: np.ndarray) -> dict[str, float]:
    """Mean angle (deg) between robot and human limb directions, and mean absolute heading differences (deg)."""
    keypoints, hip_axes = robot_pose(qpos)
    k = constants.KEYPOINT_INDEX
    figures = {}
    for limb, ((ra, rb), (ha, hb)) in LIMBS.items():
        robot = _unit(keypoints[:, k[rb]] - keypoints[:, k[ra]])
        person = _unit(human.positions[:, H[hb]] - human.positions[:, H[ha]])
        figures[limb] = float(np.degrees(np.arccos(np.clip(np.sum(robot * person, -1), -1, 1))).mean())
    figures["heading"] = _heading_error(keypoints[:, k["left_hip"]], keypoints[:, k["right_hip"]], human)
    figures["pelvis_heading"] = _heading_error(hip_axes[:, 0], hip_axes[:, 1], human)
    figures["limbs_mean"] = float(np.mean([figures[limb] for limb in LIMBS]))
    return figures


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    files = sorted((pathlib.Path(_SHARED.value) / "motions" / "bandai_namco").glob("*.bvh"))
    if not files:
        print(f"error: no .bvh files under {_SHARED.value}/motions/bandai_namco")
        return 1
    humans = [load_bvh(f) for f in files]
    results = pipeline.Retargeter(_CONFIG.value)(humans)
    clips = {f.stem.removeprefix("dataset-1_").removesuffix("_normal_001"): evaluate(h, r.motion.qpos)
             for f, h, r in zip(files, humans, results)}
    columns = ["left_upper_arm", "right_upper_arm", "left_forearm", "right_forearm", "limbs_mean", "heading",
               "pelvis_heading"]
    print("clip".ljust(12) + "".join(c.rjust(17) for c in columns))
    for name, figures in clips.items():
        print(name.ljust(12) + "".join(f"{figures[c]:17.2f}" for c in columns))
    mean = {c: float(np.mean([f[c] for f in clips.values()])) for c in clips[next(iter(clips))]}
    print("mean".ljust(12) + "".join(f"{mean[c]:17.2f}" for c in columns))
    path = pathlib.Path(_JSON.value)
    path.write_text(json.dumps({
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs",
        "config": _CONFIG.value.to_dict(), "mean": mean, "clips": clips}, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    app.run(main)
