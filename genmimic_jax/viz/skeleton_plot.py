"""Matplotlib 3D stick figures of a `HumanMotion`, for checking axes, scale and left/right by eye."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the non-interactive backend)
import numpy as np  # noqa: E402

from genmimic_jax.human.motion import HumanMotion  # noqa: E402
from genmimic_jax.human.skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS  # noqa: E402

_SIDE_COLOURS = {"left": "tab:red", "right": "tab:blue", "centre": "black"}


def _side(name: str) -> str:
    return name.split("_", 1)[0] if name.startswith(("left_", "right_")) else "centre"


def plot_skeleton_frames(
    motion: HumanMotion,
    frames: Sequence[int],
    path: str | os.PathLike,
    *,
    elevation: float = 15.0,
    azimuth: float = -60.0,
) -> None:
    """Saves a PNG with one 3D panel per frame: bones coloured by side (left red, right blue), world axes
    labelled, the floor (z=0) drawn, the pelvis path as a grey line and an arrow from pelvis along the facing
    direction ((left hip - right hip) x up). Each panel is a 2 m cube over the frame's pelvis; the grey line is
    the pelvis path over the surrounding second."""
    mask = np.ones(len(SMPL_JOINT_NAMES), bool) if motion.mask is None else motion.mask
    positions = motion.positions
    radius = 1.0
    fig = plt.figure(figsize=(4.5 * len(frames), 5.0))
    hip_l, hip_r = SMPL_JOINT_NAMES.index("left_hip"), SMPL_JOINT_NAMES.index("right_hip")
    for panel, frame in enumerate(frames):
        ax = fig.add_subplot(1, len(frames), panel + 1, projection="3d")
        pose = positions[frame]
        centre = pose[0]
        for joint, parent in enumerate(SMPL_PARENTS):
            if parent >= 0 and mask[joint] and mask[parent]:
                segment = pose[[parent, joint]]
                ax.plot(*segment.T, color=_SIDE_COLOURS[_side(SMPL_JOINT_NAMES[joint])], linewidth=2)
        ax.scatter(*pose[mask].T, s=6, color="k")
        window = slice(max(frame - int(motion.fps), 0), frame + int(motion.fps) + 1)
        ax.plot(*positions[window, 0].T, color="0.6", linewidth=1)
        facing = np.cross(pose[hip_l] - pose[hip_r], [0.0, 0.0, 1.0])
        facing = 0.4 * facing / max(np.linalg.norm(facing), 1e-9)
        ax.quiver(*pose[0], *facing, color="tab:green")
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]]) * radius + centre[:2]
        ax.plot(corners[:, 0], corners[:, 1], 0.0, color="0.8")
        ax.set_xlim(centre[0] - radius, centre[0] + radius)
        ax.set_ylim(centre[1] - radius, centre[1] + radius)
        ax.set_zlim(0.0, 2.0 * radius)
        ax.set_box_aspect((1, 1, 1))
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_zlabel("z")
        ax.view_init(elev=elevation, azim=azimuth)
        ax.set_title(f"frame {frame} (t={frame / motion.fps:.2f}s)")
    fig.suptitle(f"{os.path.basename(motion.source)}: left red, right blue, green = facing")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
