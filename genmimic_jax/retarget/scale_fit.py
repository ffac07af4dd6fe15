"""Per-subject human-to-G1 shape fit and the scaled human keypoints the robot tracks.

The fit (PHC's idea, on joint positions): limb lengths of the subject are measured once (median over frames, so any
clip of the subject serves as its rest pose; for SMPL sources the joints come from the subject's betas), and every
robot keypoint target is rebuilt along the kinematic chain with the *robot's* segment lengths and the *human's*
segment directions. Rigid parts (hips in the pelvis, shoulders in the chest) take the robot's offsets in the
human's pelvis/chest frame, and the root translation is scaled by the leg-length ratio so strides match the robot's
legs. The result, `targets`, is what "scaled human keypoints" means in the quality report.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import pathlib

import mujoco
import numpy as np

from genmimic_jax import files
from genmimic_jax.human.motion import HumanMotion
from genmimic_jax.human.skeleton import JOINT_INDEX as H
from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model

K = constants.KEYPOINT_INDEX

# Chained segments: (robot keypoint, robot parent keypoint, human joint, human parent joint).
CHAIN: tuple[tuple[str, str, str, str], ...] = tuple(
    (f"{side}_{child}", f"{side}_{parent}", f"{side}_{h_child}", f"{side}_{h_parent}")
    for side in ("left", "right")
    for child, parent, h_child, h_parent in (
        ("knee", "hip", "knee", "hip"),
        ("ankle", "knee", "ankle", "knee"),
        ("toe", "ankle", "foot", "ankle"),
        ("elbow", "shoulder", "elbow", "shoulder"),
        ("wrist", "elbow", "wrist", "elbow"),
        ("hand", "wrist", "hand", "wrist"),
    )
)
ROBOT_SOLE_HEIGHT = constants.SOLE_OFFSET  # ankle keypoint above the floor when the sole is flat on it (m)


@dataclasses.dataclass(frozen=True)
class RobotGeometry:
    """The G1 at zero joint angles: segment lengths and rigid offsets of the keypoints."""

    lengths: dict[str, float]  # robot keypoint -> distance to its CHAIN parent
    trunk: float  # pelvis to torso keypoint
    neck: float  # torso to head keypoint
    hip_offsets: np.ndarray  # [2, 3] left/right hip keypoint in the pelvis frame
    shoulder_offsets: np.ndarray  # [2, 3] left/right shoulder keypoint relative to the torso keypoint, torso frame
    leg: float  # hip to knee to ankle
    foot_pitch: float  # downward pitch (rad) of the ankle->toe keypoint vector with the sole flat


@functools.cache
def robot_geometry() -> RobotGeometry:
    model = g1_model.load_model(scene=False)
    data = mujoco.MjData(model)
    data.qpos[:] = 0.0
    data.qpos[3] = 1.0  # identity root quaternion
    mujoco.mj_kinematics(model, data)  # MuJoCo, not JAX: nothing to compile
    p = np.array([data.site(name).xpos for name in constants.KEYPOINT_SITES], np.float64)
    lengths = {child: float(np.linalg.norm(p[K[child]] - p[K[parent]])) for child, parent, _, _ in CHAIN}
    toe = p[K["left_toe"]] - p[K["left_ankle"]]
    return RobotGeometry(
        lengths=lengths,
        trunk=float(np.linalg.norm(p[K["torso"]] - p[K["pelvis"]])),
        neck=float(np.linalg.norm(p[K["head"]] - p[K["torso"]])),
        hip_offsets=np.stack([p[K["left_hip"]], p[K["right_hip"]]]) - p[K["pelvis"]],
        shoulder_offsets=np.stack([p[K["left_shoulder"]], p[K["right_shoulder"]]]) - p[K["torso"]],
        leg=lengths["left_knee"] + lengths["left_ankle"],
        foot_pitch=float(np.arctan2(-toe[2], np.linalg.norm(toe[:2]))),
    )


@dataclasses.dataclass(frozen=True)
class SubjectScale:
    """The fitted human-to-robot shape of one subject.

    Attributes:
      subject: cache key (hash of the subject's limb lengths, or of the SMPL betas).
      human_lengths: median human segment lengths (m) by robot keypoint name, plus 'leg'.
      root_scale: robot leg / human leg; scales the root translation.
      foot_pitch: [2] rest downward pitch (rad) of the human's ankle->toe vectors (left, right).
    """

    subject: str
    human_lengths: dict[str, float]
    root_scale: float
    foot_pitch: tuple[float, float]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "SubjectScale":
        fields = json.loads(text)
        return cls(fields["subject"], fields["human_lengths"], fields["root_scale"], tuple(fields["foot_pitch"]))


def _lengths(positions: np.ndarray, a: str, b: str) -> float:
    return float(np.median(np.linalg.norm(positions[:, H[a]] - positions[:, H[b]], axis=-1)))


def subject_key(motion: HumanMotion) -> str:
    """A subject id: the SMPL betas when the source has them, else the limb lengths to the millimetre."""
    if motion.smpl_params and "betas" in motion.smpl_params:
        data = np.round(np.asarray(motion.smpl_params["betas"], np.float64).reshape(-1)[:16], 3).tobytes()
    else:
        segments = [(hc, hp) for _, _, hc, hp in CHAIN] + [("pelvis", "left_hip"), ("pelvis", "right_hip")]
        data = np.round([_lengths(motion.positions, a, b) for a, b in segments], 3).tobytes()
    return hashlib.sha1(data).hexdigest()[:16]


def fit_subject(motion: HumanMotion) -> SubjectScale:
    """Fits the subject's segment lengths and rest foot pitch from a clip of it."""
    pos = motion.positions.astype(np.float64)
    human_lengths = {child: _lengths(pos, h_child, h_parent) for child, _, h_child, h_parent in CHAIN}
    human_lengths["leg"] = 0.5 * sum(
        human_lengths[f"{s}_knee"] + human_lengths[f"{s}_ankle"] for s in ("left", "right"))
    pitches = []
    for side in ("left", "right"):
        foot = pos[:, H[f"{side}_foot"]] - pos[:, H[f"{side}_ankle"]]
        pitch = np.arctan2(-foot[:, 2], np.linalg.norm(foot[:, :2], axis=-1))
        low = pos[:, H[f"{side}_foot"], 2] <= np.quantile(pos[:, H[f"{side}_foot"], 2], 0.3)  # foot on the floor
        pitches.append(float(np.median(pitch[low])))
    return SubjectScale(
        subject=subject_key(motion),
        human_lengths=human_lengths,
        root_scale=robot_geometry().leg / human_lengths["leg"],
        foot_pitch=(pitches[0], pitches[1]),
    )


class ScaleCache:
    """Fitted subjects by key, in memory and optionally as JSON files in `directory`."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self._fits: dict[str, SubjectScale] = {}
        self._directory = None if directory is None else pathlib.Path(directory)

    def get(self, motion: HumanMotion) -> SubjectScale:
        key = subject_key(motion)
        if key in self._fits:
            return self._fits[key]
        path = None if self._directory is None else self._directory / f"subject_{key}.json"
        if path is not None and path.is_file():
            fit = SubjectScale.from_json(path.read_text())
        else:
            fit = fit_subject(motion)
            if path is not None:
                text = fit.to_json().encode("utf-8")
                files.write_atomic(path, lambda file: file.write(text), "json")
        self._fits[key] = fit
        return fit


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norm, 1e-9)


def body_frame(left: np.ndarray, right: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Rotation matrices [T, 3, 3] (columns: forward, left, up) from a left-right pair and an up vector."""
    y = _unit(left - right)
    x = _unit(np.cross(y, up))
    z = np.cross(x, y)
    return np.stack([x, y, z], axis=-1)


@dataclasses.dataclass(frozen=True)
class Targets:
    """Scaled human keypoints for the robot: `positions` [T, K, 3], `valid` [K] (False where the human lacks the
    joint) and the human pelvis frame `pelvis_rotation` [T, 3, 3] (columns: forward, left, up)."""

    positions: np.ndarray
    valid: np.ndarray
    pelvis_rotation: np.ndarray


def build_targets(motion: HumanMotion, fit: SubjectScale, planted: np.ndarray | None = None) -> Targets:
    """Robot keypoint targets from a human motion and its subject fit.

    Args:
      motion: the human motion.
      fit: the subject's fit.
      planted: [T, 2, 2] planted heels and toes (`contact.detect_planted`); when given, the targets are shifted
        vertically so the robot ankles of flat planted feet sit at sole height (failing those, heel-planted ankles;
        failing those, toe-planted toes at their flat-foot height).
    """
    geometry = robot_geometry()
    pos = motion.positions.astype(np.float64)
    mask = np.ones(len(H), bool) if motion.mask is None else motion.mask
    num_frames = pos.shape[0]
    out = np.zeros((num_frames, len(constants.KEYPOINT_NAMES), 3))
    valid = np.ones(len(constants.KEYPOINT_NAMES), bool)
    for name, smpl in constants.KEYPOINT_TO_SMPL.items():
        valid[K[name]] = mask[H[smpl]]

    pelvis_rot = body_frame(pos[:, H["left_hip"]], pos[:, H["right_hip"]], pos[:, H["spine3"]] - pos[:, H["pelvis"]])
    out[:, K["pelvis"]] = pos[:, H["pelvis"]] * fit.root_scale
    for i, side in enumerate(("left", "right")):
        out[:, K[f"{side}_hip"]] = out[:, K["pelvis"]] + pelvis_rot @ geometry.hip_offsets[i]
    trunk = _unit(pos[:, H["spine3"]] - pos[:, H["pelvis"]])
    out[:, K["torso"]] = out[:, K["pelvis"]] + geometry.trunk * trunk
    out[:, K["head"]] = out[:, K["torso"]] + geometry.neck * _unit(pos[:, H["head"]] - pos[:, H["spine3"]])
    chest_rot = body_frame(pos[:, H["left_shoulder"]], pos[:, H["right_shoulder"]], trunk)
    for i, side in enumerate(("left", "right")):
        out[:, K[f"{side}_shoulder"]] = out[:, K["torso"]] + chest_rot @ geometry.shoulder_offsets[i]
    for child, parent, h_child, h_parent in CHAIN:
        direction = _unit(pos[:, H[h_child]] - pos[:, H[h_parent]])
        if child.endswith("toe"):
            direction = _repitch(direction, fit.foot_pitch[0 if child.startswith("left") else 1] - geometry.foot_pitch)
        valid[K[child]] &= mask[H[h_parent]]
        out[:, K[child]] = out[:, K[parent]] + geometry.lengths[child] * direction

    if planted is not None:
        ankles = out[:, [K["left_ankle"], K["right_ankle"]], 2]
        toes = out[:, [K["left_toe"], K["right_toe"]], 2]
        toe_height = ROBOT_SOLE_HEIGHT - geometry.lengths["left_toe"] * np.sin(geometry.foot_pitch)
        for heights, frames, height in ((ankles, planted.all(-1), ROBOT_SOLE_HEIGHT),
                                        (ankles, planted[..., 0], ROBOT_SOLE_HEIGHT),
                                        (toes, planted[..., 1], toe_height)):
            if frames.any():
                out[..., 2] -= np.median(heights[frames]) - height
                break
    return Targets(positions=out.astype(np.float32), valid=valid, pelvis_rotation=pelvis_rot.astype(np.float32))


def _repitch(direction: np.ndarray, raise_by: np.ndarray | float) -> np.ndarray:
    """Rotates unit vectors [T, 3] up in their vertical plane by `raise_by` radians."""
    horizontal = np.linalg.norm(direction[:, :2], axis=-1)
    pitch = np.arctan2(-direction[:, 2], horizontal) - raise_by
    heading = _unit(np.concatenate([direction[:, :2], np.zeros_like(direction[:, :1])], -1))
    return heading * np.cos(pitch)[:, None] + np.array([0.0, 0.0, -1.0]) * np.sin(pitch)[:, None]
