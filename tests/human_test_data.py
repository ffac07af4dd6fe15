"""Small human motion data built in code for the ingest tests: a T-pose on SMPL-24 and a LAFAN1-named BVH rig."""

from __future__ import annotations

import numpy as np

from genmimic_jax.human import bvh
from genmimic_jax.human.skeleton import SMPL_JOINT_NAMES

# A T-pose on the SMPL joints (metres, z-up, facing +y, left = -x, feet on z=0 at the toes).
T_POSE = {
    "pelvis": (0.0, 0.0, 0.95), "left_hip": (-0.09, 0.0, 0.87), "right_hip": (0.09, 0.0, 0.87),
    "spine1": (0.0, 0.0, 1.06), "left_knee": (-0.10, 0.0, 0.48), "right_knee": (0.10, 0.0, 0.48),
    "spine2": (0.0, 0.0, 1.19), "left_ankle": (-0.10, 0.0, 0.08), "right_ankle": (0.10, 0.0, 0.08),
    "spine3": (0.0, 0.0, 1.25), "left_foot": (-0.11, 0.12, 0.0), "right_foot": (0.11, 0.12, 0.0),
    "neck": (0.0, 0.0, 1.47), "left_collar": (-0.08, 0.0, 1.40), "right_collar": (0.08, 0.0, 1.40),
    "head": (0.0, 0.0, 1.56), "left_shoulder": (-0.18, 0.0, 1.42), "right_shoulder": (0.18, 0.0, 1.42),
    "left_elbow": (-0.45, 0.0, 1.42), "right_elbow": (0.45, 0.0, 1.42), "left_wrist": (-0.70, 0.0, 1.42),
    "right_wrist": (0.70, 0.0, 1.42), "left_hand": (-0.78, 0.0, 1.42), "right_hand": (0.78, 0.0, 1.42),
}
T_POSE_ARRAY = np.array([T_POSE[name] for name in SMPL_JOINT_NAMES], np.float32)


def walking_positions(num_frames: int, fps: float) -> np.ndarray:
    """[T, 24, 3] T-pose translated forward at 1 m/s with a 2 cm vertical bob."""
    t = np.arange(num_frames) / fps
    shift = np.stack([np.zeros_like(t), t, 0.02 * np.sin(2 * np.pi * t)], axis=-1)
    return (T_POSE_ARRAY[None] + shift[:, None]).astype(np.float32)


# (name, parent, offset in cm for a Y-up rig facing +z, channels). Channel orders vary on purpose; Spine has
# position channels in a shuffled order; end sites carry non-zero offsets.
_ROT = {"zxy": ("Zrotation", "Xrotation", "Yrotation"), "xyz": ("Xrotation", "Yrotation", "Zrotation"),
        "yzx": ("Yrotation", "Zrotation", "Xrotation"), "zyx": ("Zrotation", "Yrotation", "Xrotation"),
        "xzy": ("Xrotation", "Zrotation", "Yrotation"), "yxz": ("Yrotation", "Xrotation", "Zrotation")}
RIG = (
    ("Hips", None, (0.0, 0.0, 0.0), ("Xposition", "Yposition", "Zposition") + _ROT["zxy"]),
    ("LeftUpLeg", "Hips", (9.0, -6.0, 0.0), _ROT["xyz"]),
    ("LeftLeg", "LeftUpLeg", (0.0, -42.0, 0.0), _ROT["yzx"]),
    ("LeftFoot", "LeftLeg", (0.0, -41.0, 0.0), _ROT["zyx"]),
    ("LeftToe", "LeftFoot", (0.0, -7.0, 12.0), _ROT["xzy"]),
    ("LeftToe_EndSite", "LeftToe", (0.0, 0.0, 5.0), ()),
    ("RightUpLeg", "Hips", (-9.0, -6.0, 0.0), _ROT["yxz"]),
    ("RightLeg", "RightUpLeg", (0.0, -42.0, 0.0), _ROT["zxy"]),
    ("RightFoot", "RightLeg", (0.0, -41.0, 0.0), _ROT["xyz"]),
    ("RightToe", "RightFoot", (0.0, -7.0, 12.0), _ROT["zyx"]),
    ("RightToe_EndSite", "RightToe", (0.0, 0.0, 5.0), ()),
    ("Spine", "Hips", (0.0, 10.0, 0.0),
     ("Yrotation", "Xposition", "Zrotation", "Yposition", "Xrotation", "Zposition")),
    ("Spine1", "Spine", (0.0, 12.0, 0.0), _ROT["yzx"]),
    ("Spine2", "Spine1", (0.0, 12.0, 0.0), _ROT["xzy"]),
    ("Neck", "Spine2", (0.0, 16.0, 0.0), _ROT["zxy"]),
    ("Head", "Neck", (0.0, 10.0, 2.0), ("Zrotation", "Xrotation")),
    ("Head_EndSite", "Head", (0.0, 15.0, 0.0), ()),
    ("LeftShoulder", "Spine2", (4.0, 12.0, 0.0), _ROT["xyz"]),
    ("LeftArm", "LeftShoulder", (12.0, 0.0, 0.0), _ROT["yxz"]),
    ("LeftForeArm", "LeftArm", (0.0, -28.0, 0.0), ("Yrotation",)),
    ("LeftHand", "LeftForeArm", (0.0, -25.0, 0.0), _ROT["zyx"]),
    ("LeftHand_EndSite", "LeftHand", (0.0, -10.0, 0.0), ()),
    ("RightShoulder", "Spine2", (-4.0, 12.0, 0.0), _ROT["zxy"]),
    ("RightArm", "RightShoulder", (-12.0, 0.0, 0.0), _ROT["xzy"]),
    ("RightForeArm", "RightArm", (0.0, -28.0, 0.0), _ROT["xyz"]),
    ("RightHand", "RightForeArm", (0.0, -25.0, 0.0), _ROT["yzx"]),
    ("RightHand_EndSite", "RightHand", (0.0, -10.0, 0.0), ()),
)
# SMPL joints the rig provides (LAFAN1 names).
RIG_SMPL = {
    "Hips": "pelvis", "LeftUpLeg": "left_hip", "LeftLeg": "left_knee", "LeftFoot": "left_ankle",
    "LeftToe": "left_foot", "RightUpLeg": "right_hip", "RightLeg": "right_knee", "RightFoot": "right_ankle",
    "RightToe": "right_foot", "Spine": "spine1", "Spine1": "spine2", "Spine2": "spine3", "Neck": "neck",
    "Head": "head", "LeftShoulder": "left_collar", "LeftArm": "left_shoulder", "LeftForeArm": "left_elbow",
    "LeftHand": "left_wrist", "RightShoulder": "right_collar", "RightArm": "right_shoulder",
    "RightForeArm": "right_elbow", "RightHand": "right_wrist",
}
HIP_HEIGHT_CM = 96.0  # Hip joints 6 cm below the root; 42 + 41 cm legs; ankle 7 cm above the toes.


def rig_channel_values(rng: np.random.Generator, num_frames: int, max_angle: float = 15.0) -> np.ndarray:
    """[T, C] channel values: random smooth-ish angles, the root walking along +z, Spine positions near its offset."""
    rows = []
    t = np.arange(num_frames)[:, None]
    for name, _, offset, channels in RIG:
        for channel in channels:
            if channel.endswith("rotation"):
                phase, amplitude = rng.uniform(0, 2 * np.pi), rng.uniform(0, max_angle)
                rows.append(amplitude * np.sin(0.2 * t + phase))
            else:
                axis = "XYZ".index(channel[0])
                if name == "Hips":
                    base = (0.0, HIP_HEIGHT_CM, 0.0)[axis] + (3.0 * t if axis == 2 else 0.0)
                else:
                    base = offset[axis] + 0.5 * np.sin(0.3 * t + axis)
                rows.append(np.broadcast_to(base, (num_frames, 1)))
    return np.concatenate(rows, axis=1).astype(np.float64)


def make_rig_bvh(
    rng: np.random.Generator, num_frames: int = 20, *, scale: float = 1.0, z_up: bool = False, source: str = "",
) -> bvh.Bvh:
    """The test rig as a `Bvh`; `scale` multiplies lengths (0.01 for metres), `z_up` swaps to a Z-up rig."""
    names = [name for name, *_ in RIG]
    values = rig_channel_values(rng, num_frames) * np.array(
        [scale if c.endswith("position") else 1.0 for *_, channels in RIG for c in channels])
    joints = []
    for name, parent, offset, channels in RIG:
        offset = np.array(offset) * scale
        if z_up:
            offset = np.array([offset[0], -offset[2], offset[1]])
        joints.append(bvh.BvhJoint(name, -1 if parent is None else names.index(parent), offset, channels))
    if z_up:  # Same rig with Y and Z swapped: position channels move with it; rotations stay random.
        columns = [c for *_, channels in RIG for c in channels]
        y = [i for i, c in enumerate(columns) if c == "Yposition"]
        z = [i for i, c in enumerate(columns) if c == "Zposition"]
        values[:, y], values[:, z] = -values[:, z].copy(), values[:, y].copy()
    return bvh.Bvh(tuple(joints), 1.0 / 30.0, values, source)


def elemental(axis: str, degrees: np.ndarray) -> np.ndarray:
    """[T, 3, 3] rotation matrices about a principal axis."""
    a = np.deg2rad(degrees)
    c, s, o, i = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    rows = {"X": [[i, o, o], [o, c, -s], [o, s, c]], "Y": [[c, o, s], [o, i, o], [-s, o, c]],
            "Z": [[c, -s, o], [s, c, o], [o, o, i]]}[axis]
    return np.moveaxis(np.array(rows), [0, 1], [-2, -1])


def reference_fk(rig: bvh.Bvh) -> np.ndarray:
    """World positions [T, J, 3] by a plain loop over joints and channels (independent of `bvh.forward_kinematics`)."""
    num_frames = rig.num_frames
    positions = np.zeros((num_frames, len(rig.joints), 3))
    rotations = np.zeros((num_frames, len(rig.joints), 3, 3))
    column = 0
    for index, joint in enumerate(rig.joints):
        local = np.broadcast_to(np.eye(3), (num_frames, 3, 3)).copy()
        translation = np.tile(joint.offset, (num_frames, 1))
        for channel in joint.channels:
            value = rig.motion[:, column]
            column += 1
            if channel.endswith("rotation"):
                local = local @ elemental(channel[0], value)
            else:
                translation[:, "XYZ".index(channel[0])] = value
        if joint.parent < 0:
            positions[:, index], rotations[:, index] = translation, local
        else:
            rotations[:, index] = rotations[:, joint.parent] @ local
            offset = (rotations[:, joint.parent] @ translation[..., None])[..., 0]
            positions[:, index] = positions[:, joint.parent] + offset
    return positions
