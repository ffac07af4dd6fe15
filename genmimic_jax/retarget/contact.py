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
