"""Planted-foot detection on the human motion (height and speed of the ankle and toe joints)."""

from __future__ import annotations

import numpy as np
import scipy.ndimage

from genmimic_jax.human.motion import HumanMotion
from genmimic_jax.human.skeleton import JOINT_INDEX as H

FOOT_JOINTS = (("left_ankle", "left_foot"), ("right_ankle", "right_foot"))


def detect_planted(
    motion: HumanMotion,
    height_margin: float = 0.05,
    max_speed: float = 0.3,
    min_frames: int = 3,
) -> np.ndarray:
    """Planted heels and toes [T, 2, 2] (left/right foot, heel/toe): the heel (ankle joint) or toe (SMPL foot joint)
    is planted where it is within `height_margin` (m) of its resting height above the floor and moves slower than
    `max_speed` (m/s). A foot is planted where its heel or toe is; flat where both are.

    Runs shorter than `min_frames` are dropped and gaps shorter than it are closed.
    """
    pos = motion.positions.astype(np.float64)
    num_frames = pos.shape[0]
    planted = np.zeros((num_frames, 2, 2), bool)
    for side, joints in enumerate(FOOT_JOINTS):
        for part, joint in enumerate(joints):
            track = pos[:, H[joint]]
            velocity = np.gradient(track, axis=0) * motion.fps if num_frames > 1 else np.zeros_like(track)
            speed = np.linalg.norm(velocity, axis=-1)
            rest_height = max(np.quantile(track[:, 2], 0.1), 0.0)
            planted[:, side, part] = (track[:, 2] < rest_height + height_margin) & (speed < max_speed)
    if num_frames >= min_frames:
        structure = np.ones((min_frames, 1, 1), bool)
        planted = scipy.ndimage.binary_closing(planted, structure, border_value=0) | planted
        planted = scipy.ndimage.binary_opening(planted, structure)
    return planted


def swing_floor(planted: np.ndarray, clearance: float) -> np.ndarray:
    """[T, 2] the lowest height (m) each foot's sole may take: `clearance` times a half sine over each swing (a run of
    frames with neither heel nor toe planted, between two planted runs), 0 elsewhere.

    A human foot may skim the floor a centimetre up, or slide on it, while it carries weight (a lunge's dragged back
    foot); the G1's rubber soles grip, so a reference that skims makes its policy shuffle short. A floor raised under
    each swing turns such a skim into a step.
    """
    floor = np.zeros(planted.shape[:2], np.float32)
    if clearance <= 0.0:
        return floor
    on = planted.max(-1).astype(bool)  # [T, 2]
    for side in range(on.shape[1]):
        touching = np.flatnonzero(on[:, side])
        if touching.size < 2:
            continue
        gaps = np.flatnonzero(np.diff(touching) > 1)
        for start, stop in zip(touching[gaps] + 1, touching[gaps + 1]):  # swing frames [start, stop)
            length = stop - start
            floor[start:stop, side] = clearance * np.sin(np.pi * np.arange(1, length + 1) / (length + 1))
    return floor
