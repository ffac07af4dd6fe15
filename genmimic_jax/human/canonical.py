"""Bringing raw joint positions to the canonical frame: z-up, metres, floor at z=0.

Shared by the BVH and keypoint loaders. Raw positions arrive already in SMPL joint order ([T, 24, 3]) with a
mask of the joints the source provides.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from genmimic_jax.human.motion import HumanMotion, MotionFormatError, nearest_provided_ancestor, validate
from genmimic_jax.human.skeleton import JOINT_INDEX, SMPL_PARENTS

# Metres per source unit.
UNIT_SCALES: dict[str, float] = {
    "m": 1.0,
    "cm": 0.01,
    "mm": 0.001,
    "inch": 0.0254,
    "cmu": 0.0254 / 0.45,  # CMU ASF/BVH units (ASF `length 0.45`: 1/0.45 inch).
}
# Estimated statures (source units) each unit accepts in auto-detection: disjoint, so at most one unit fits.
# Inches are never guessed (their range would overlap centimetres); pass unit='inch'.
_AUTO_UNIT_HEIGHT_RANGES: dict[str, tuple[float, float]] = {
    "m": (0.5, 3.0),
    "cmu": (9.0, 50.0),
    "cm": (50.0, 300.0),
    "mm": (500.0, 3000.0),
}

# Hip-joint to ankle-joint length (thigh + shank) as a fraction of stature: the hip (greater trochanter) at 0.530
# and the ankle at 0.039 of stature (Drillis & Contini, 1966, segment proportions). Pose-invariant, so it also
# works on clips that never stand straight; rig-independent, unlike the head joint, which rigs place anywhere
# from the chin to the ears.
LEG_STATURE_RATIO = 0.530 - 0.039

FOOT_JOINTS: tuple[str, ...] = ("left_ankle", "right_ankle", "left_foot", "right_foot")

# Rotations taking each supported source up axis to +z (right-handed, no mirroring).
_TO_Z_UP: dict[str, np.ndarray] = {
    "z": np.eye(3),
    "y": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]),  # +90 deg about x: y -> z, z -> -y.
    "-y": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),  # -90 deg about x (camera frames).
}
UP_AXES = tuple(_TO_Z_UP)


def up_axis_rotation(up_axis: str) -> np.ndarray:
    """The 3x3 rotation taking a `'z'`-, `'y'`- or `'-y'`-up source frame to the z-up world."""
    return _TO_Z_UP[up_axis]


def detect_up_axis(positions: np.ndarray, mask: np.ndarray) -> str | None:
    """The `UP_AXES` entry along which the head is clearly above the ankles on average, else None."""
    if not mask[JOINT_INDEX["head"]] or not (mask[JOINT_INDEX["left_ankle"]] and mask[JOINT_INDEX["right_ankle"]]):
        return None
    ankles = 0.5 * (positions[:, JOINT_INDEX["left_ankle"]] + positions[:, JOINT_INDEX["right_ankle"]])
    up = np.mean(positions[:, JOINT_INDEX["head"]] - ankles, axis=0)
    axis = int(np.argmax(np.abs(up)))
    if abs(up[axis]) < 0.8 * np.linalg.norm(up):
        return None
    name = ("-" if up[axis] < 0 else "") + "xyz"[axis]
    return name if name in _TO_Z_UP else None


def estimate_height(positions: np.ndarray) -> float:
    """Subject stature from the median thigh + shank length of both legs ([T, 24, 3] positions, any unit)."""
    def length(a: str, b: str) -> np.ndarray:
        return np.linalg.norm(positions[:, JOINT_INDEX[a]] - positions[:, JOINT_INDEX[b]], axis=-1)
    legs = [length(f"{side}_hip", f"{side}_knee") + length(f"{side}_knee", f"{side}_ankle")
            for side in ("left", "right")]
    return float(np.median(np.concatenate(legs))) / LEG_STATURE_RATIO


def detect_unit(raw_height: float) -> str | None:
    """The unit whose accepted standing-height range holds `raw_height` (source units), else None."""
    for unit, (low, high) in _AUTO_UNIT_HEIGHT_RANGES.items():
        if low <= raw_height < high:
            return unit
    return None


def unit_scale(unit: str | float) -> float:
    """Metres per source unit for a unit name (`UNIT_SCALES`) or a number of metres per unit."""
    if isinstance(unit, str):
        return UNIT_SCALES[unit]
    return float(unit)


def floor_height(positions: np.ndarray, mask: np.ndarray) -> float:
    """The lowest provided foot point (ankles, feet) over the clip, z-up positions."""
    feet = [JOINT_INDEX[n] for n in FOOT_JOINTS if mask[JOINT_INDEX[n]]]
    return float(positions[:, feet, 2].min())


def fill_missing_joints(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Copies each missing joint's value ([T, 24, ...]) from its nearest provided ancestor (a placeholder)."""
    filled = np.array(values, copy=True)
    for joint in range(len(SMPL_PARENTS)):  # Parents come before children in SMPL order.
        if not mask[joint]:
            source = nearest_provided_ancestor(joint, mask)
            if source >= 0:
                filled[:, joint] = filled[:, source]
    return filled


ESSENTIAL_JOINTS: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "head",
)


def missing_essential_joints(mask: np.ndarray) -> list[str]:
    """The essential joints (`ESSENTIAL_JOINTS`) the mask lacks."""
    return [name for name in ESSENTIAL_JOINTS if not mask[JOINT_INDEX[name]]]


def to_canonical(
    raw_positions: np.ndarray,
    mask: np.ndarray,
    fps: float,
    *,
    up_axis: str = "auto",
    unit: str | float = "auto",
    on_floor: bool = True,
    source: str = "",
    raw_rotations: np.ndarray | None = None,
) -> HumanMotion:
    """Builds a validated `HumanMotion` from source positions in SMPL joint order.

    Args:
      raw_positions: [T, 24, 3] positions in the source's units and axes; missing joints hold anything finite.
      mask: [24] bool, the joints the source provides (must include `ESSENTIAL_JOINTS`).
      fps: frames per second.
      up_axis: `'z'`, `'y'`, `'-y'` or `'auto'` (the axis along which the head is above the ankles).
      unit: a `UNIT_SCALES` name, metres per unit as a number, or `'auto'` (from the estimated stature).
      on_floor: shift vertically so the lowest foot point over the clip is at z=0.
      source: the file name, used in error messages.
      raw_rotations: optional [T, 24, 3, 3] global joint rotations in the source's axes (proper rotation matrices).

    Raises:
      MotionFormatError: missing essential joints, undetectable axis or unit, or an implausible result.
    """
    missing = missing_essential_joints(mask)
    if missing:
        raise MotionFormatError(
            f"{source}: cannot map the essential joints {', '.join(missing)} (unknown names? pass a name map)")
    if up_axis == "auto":
        up_axis = detect_up_axis(raw_positions, mask)
        if up_axis is None:
            raise MotionFormatError(
                f"{source}: cannot tell the up axis from the head and ankles; pass up_axis ('z', 'y' or '-y')")
    if up_axis not in _TO_Z_UP:
        raise MotionFormatError(f"{source}: unsupported up axis {up_axis!r} (expected one of {', '.join(UP_AXES)})")
    to_z_up = up_axis_rotation(up_axis)
    positions = fill_missing_joints(raw_positions @ to_z_up.T, mask)
    if unit == "auto":
        raw_height = estimate_height(positions)
        unit = detect_unit(raw_height)
        if unit is None:
            raise MotionFormatError(
                f"{source}: skeleton is {raw_height:.3g} units tall, no known unit fits (m, cm, mm, CMU); pass unit=")
    if isinstance(unit, str) and unit not in UNIT_SCALES:
        raise MotionFormatError(f"{source}: unknown unit {unit!r} (expected one of {', '.join(UNIT_SCALES)})")
    if not isinstance(unit, str) and not (np.isfinite(unit) and unit > 0):
        raise MotionFormatError(f"{source}: the unit must be a positive number of metres, got {unit}")
    positions = positions * unit_scale(unit)
    if on_floor:
        positions[..., 2] -= floor_height(positions, mask)
    orientations = None
    if raw_rotations is not None:
        rotations = fill_missing_joints(to_z_up @ raw_rotations, mask)
        xyzw = Rotation.from_matrix(rotations.reshape(-1, 3, 3), assume_valid=True).as_quat()  # 12x faster
        orientations = np.roll(xyzw, 1, axis=-1).reshape(*rotations.shape[:2], 4).astype(np.float32)
    motion = HumanMotion(
        positions=positions.astype(np.float32),
        fps=float(fps),
        mask=np.asarray(mask, dtype=bool),
        orientations=orientations,
        height=estimate_height(positions),
        source=source,
    )
    validate(motion)
    return motion
