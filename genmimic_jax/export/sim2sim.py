"""Sim-to-sim: the exported ONNX policy driving the G1 in plain C MuJoCo, as a robot would run it (no JAX).

The control loop uses only numpy, MuJoCo and onnxruntime: it builds the deployable ('actor') observation from the
simulated state and the reference's goal keypoints with the layout stored in the model's metadata, runs the model,
maps its DDS-ordered actions to joint targets with the metadata's default pose and action scale, and holds them
for one control period of `mj_step`s. `compare` sets the result against another rollout of the same policy (the
JAX policy on MJX, say): the keypoint error of each against the reference and the distance between the two.
"""

from __future__ import annotations

import dataclasses
import os

import mujoco
import numpy as np
import onnx
import onnxruntime as ort

from genmimic_jax.errors import InputError
from genmimic_jax.export import onnx_export
from genmimic_jax.robot.g1 import model as g1_model


class Sim2SimError(InputError):
    """The model cannot run here (e.g. it reads the simulator-only privileged observation)."""


class OnnxPolicy:
    """An exported policy and its metadata; actions in DDS order, targets in MuJoCo joint order."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        self.metadata = onnx_export.read_metadata(onnx.load(self.path))
        self.session = ort.InferenceSession(self.path, providers=["CPUExecutionProvider"])
        meta = self.metadata
        self.mujoco_to_dds = np.asarray(meta["mujoco_to_dds"])
        self.dds_to_mujoco = np.asarray(meta["dds_to_mujoco"])
        self.default_dds = np.asarray(meta["default_joint_pos"])
        self.scale_dds = np.asarray(meta["action_scale"])
        self.control_dt = 1.0 / float(meta["control_rate_hz"])
        self.action_offset = meta.get("action_offset", "default_pose")

    def actions(self, obs: np.ndarray) -> np.ndarray:
        """Raw actions [N, 29] in DDS motor order for observations [N, D]."""
        (out,) = self.session.run([onnx_export.OUTPUT_NAME],
                                  {onnx_export.INPUT_NAME: np.asarray(obs, np.float32).reshape(-1, self.obs_size)})
        return out

    @property
    def obs_size(self) -> int:
        return int(self.metadata["observation_size"])

    def joint_targets(self, actions_dds: np.ndarray, reference_joints: np.ndarray) -> np.ndarray:
        """Servo targets in MuJoCo joint order from DDS-ordered actions, as the robot side computes them.

        `reference_joints` [29] (MuJoCo order) are the reference's joint positions at the frame the step reaches,
        the offset of a policy exported with action_offset 'reference'.
        """
        offset = (np.asarray(reference_joints)[..., self.dds_to_mujoco] if self.action_offset == "reference"
                  else self.default_dds)
        return (offset + self.scale_dds * actions_dds)[..., self.mujoco_to_dds]


def _heading_rotation(quat: np.ndarray) -> np.ndarray:
    """World-to-heading-frame rotation matrix of a wxyz root orientation (its yaw only)."""
    w, x, y, z = quat
    yaw = np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def _to_body(vector: np.ndarray, quat: np.ndarray) -> np.ndarray:
    """A world vector in the body frame of a wxyz root orientation."""
    rotation = np.empty(9)
    mujoco.mju_quat2Mat(rotation, np.asarray(quat, np.float64))
    return rotation.reshape(3, 3).T @ vector


class ActorObservation:
    """Builds the deployable observation from a MuJoCo state, following the model metadata's layout.

    Blocks: projected gravity, base angular velocity (body frame), joint positions minus the default pose, joint
    velocities, last raw action (joints in MuJoCo order), where the layout has it the base linear velocity (body
    frame; on the robot a state estimator's), the history of the first five (most recent first, filled with the
    first frame at the start), and the goal keypoints of the goal frames relative to the root in its heading
    frame.
    """

    def __init__(self, metadata: dict):
        if metadata["observation"] != "actor":
            raise Sim2SimError(f"the policy reads the {metadata['observation']!r} observation; only 'actor' "
                               "(deployable) policies run outside the training simulator")
        self.layout = [(b["name"], b["size"]) for b in metadata["observation_layout"]]
        self.proprio_names = [b["name"] for b in metadata["proprio_layout"]]
        self.history_length = int(metadata["history_length"])
        self.goal_offsets = np.asarray(metadata["goal_offsets"])
        self.default_pose = np.asarray(metadata["default_joint_pos"])[np.asarray(metadata["mujoco_to_dds"])]
        self.size = int(metadata["observation_size"])
        self.history: list[np.ndarray] | None = None

    def proprio(self, qpos: np.ndarray, qvel: np.ndarray, last_action: np.ndarray) -> dict[str, np.ndarray]:
        return {"projected_gravity": _to_body(np.array([0.0, 0.0, -1.0]), qpos[3:7]), "base_ang_vel": qvel[3:6],
                "joint_pos": qpos[7:] - self.default_pose, "joint_vel": qvel[6:], "last_action": last_action}

    def __call__(self, qpos: np.ndarray, qvel: np.ndarray, last_action: np.ndarray,
                 goal_keypoints: np.ndarray) -> np.ndarray:
        """The observation [D]; `goal_keypoints` [G, K, 3] are world positions of the goal frames."""
        blocks = self.proprio(qpos, qvel, last_action)
        proprio = np.concatenate([np.ravel(blocks[name]) for name in self.proprio_names])
        if self.history is None:
            self.history = [proprio] * self.history_length
        blocks["proprio_history"] = np.concatenate(self.history)
        blocks["base_lin_vel"] = _to_body(qvel[:3], qpos[3:7])  # on the robot: the state estimator's
        blocks["goal_keypoints"] = (goal_keypoints - qpos[:3]) @ _heading_rotation(qpos[3:7]).T
        obs = np.concatenate([np.ravel(blocks[name]) for name, _ in self.layout])
        self.history = [proprio] + self.history[:-1]
        if obs.size != self.size:
            raise Sim2SimError(f"built {obs.size} observation numbers, the model expects {self.size}")
        return obs.astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Sim2SimRun:
    """A C MuJoCo run of an ONNX policy on one reference clip (frames at the control rate)."""

    qpos: np.ndarray  # [T, 36]
    keypoints: np.ndarray  # [T, K, 3]
    obs: np.ndarray  # [T - 1, D]
    actions_dds: np.ndarray  # [T - 1, 29]


def run(onnx_path: str | os.PathLike, ref_qpos: np.ndarray, ref_qvel: np.ndarray, goal_keypoints: np.ndarray,
        substeps: int) -> Sim2SimRun:
    """Runs the ONNX policy in C MuJoCo from the reference's first frame to its last (no early stop).

    Args:
      onnx_path: the exported policy.
      ref_qpos, ref_qvel: the reference at the control rate ([T, 36], [T, 35]); the robot starts on frame 0.
      goal_keypoints: [T, K, 3] world keypoints the policy is asked to reach, at the control rate.
      substeps: physics steps per control step.
    """
    policy = OnnxPolicy(onnx_path)
    observe = ActorObservation(policy.metadata)
    mj_model = g1_model.load_model(scene=True)
    if abs(mj_model.opt.timestep * substeps - policy.control_dt) > 1e-9:
        raise Sim2SimError(f"{substeps} substeps of {mj_model.opt.timestep} s do not make the policy's "
                           f"control period {policy.control_dt} s")
    data = mujoco.MjData(mj_model)
    data.qpos[:], data.qvel[:], data.ctrl[:] = ref_qpos[0], ref_qvel[0], ref_qpos[0, 7:]
    mujoco.mj_forward(mj_model, data)
    sites = g1_model.site_ids(mj_model, tuple(f"{name}_keypoint" for name in policy.metadata["keypoint_names"]))
    frames = ref_qpos.shape[0]
    qpos, keypoints = [data.qpos.copy()], [data.site_xpos[sites].copy()]
    all_obs, all_actions = [], []
    last_action = np.zeros(mj_model.nu)
    for t in range(frames - 1):
        goals = goal_keypoints[np.minimum(t + observe.goal_offsets, frames - 1)]
        obs = observe(data.qpos.copy(), data.qvel.copy(), last_action, goals)
        actions = policy.actions(obs)[0]
        data.ctrl[:] = policy.joint_targets(actions, ref_qpos[t + 1, 7:])
        for _ in range(substeps):
            mujoco.mj_step(mj_model, data)
        last_action = actions[policy.mujoco_to_dds]
        all_obs.append(obs)
        all_actions.append(actions)
        qpos.append(data.qpos.copy())
        keypoints.append(data.site_xpos[sites].copy())  # as mj_step leaves them: from the last substep's start
    return Sim2SimRun(qpos=np.array(qpos), keypoints=np.array(keypoints), obs=np.array(all_obs),
                      actions_dds=np.array(all_actions))


def compare(ref_keypoints: np.ndarray, c_keypoints: np.ndarray, other_keypoints: np.ndarray, fps: float,
            last_frame: int | None = None) -> dict:
    """Keypoint error of both runs against the reference and their distance from each other, over time.

    Args:
      ref_keypoints, c_keypoints, other_keypoints: [T, K, 3] reference, C MuJoCo + ONNX run, the other run.
      fps: frame rate of the arrays.
      last_frame: compare frames 1..last_frame (default: all).

    Returns:
      Per-frame curves (mm) 'c_error', 'other_error', 'divergence' and summaries: their means, the divergence at
      1 s, 2 s and the end, and the first time the divergence exceeds 50 mm (None if never).
    """
    end = ref_keypoints.shape[0] - 1 if last_frame is None else last_frame
    window = slice(1, end + 1)

    def per_frame(a, b):
        return 1000.0 * np.linalg.norm(a[window] - b[window], axis=-1).mean(axis=-1)

    c_error, other_error = per_frame(c_keypoints, ref_keypoints), per_frame(other_keypoints, ref_keypoints)
    divergence = per_frame(c_keypoints, other_keypoints)
    seconds = np.arange(1, end + 1) / fps
    exceeds = np.flatnonzero(divergence > 50.0)

    def at(time_s):
        index = int(round(time_s * fps)) - 1
        return float(divergence[index]) if 0 <= index < divergence.size else None

    return {
        "seconds": seconds, "c_error": c_error, "other_error": other_error, "divergence": divergence,
        "summary": {
            "frames": int(end), "c_mean_error_mm": float(c_error.mean()), "other_mean_error_mm": float(other_error.mean()),
            "mean_divergence_mm": float(divergence.mean()), "divergence_at_1s_mm": at(1.0),
            "divergence_at_2s_mm": at(2.0), "final_divergence_mm": float(divergence[-1]),
            "first_over_50mm_s": float(seconds[exceeds[0]]) if exceeds.size else None,
        },
    }
