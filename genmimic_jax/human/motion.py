"""The canonical human motion type: SMPL-24 joint positions over time, metres, z-up world."""

from __future__ import annotations

import dataclasses
import os
import zipfile

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from genmimic_jax import files, limits
from genmimic_jax.errors import InputError, one_line
from genmimic_jax.human.skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS


class MotionFormatError(InputError):
    """A motion source that cannot be read; the message is one line naming the file and the problem."""


@dataclasses.dataclass(frozen=True)
class HumanMotion:
    """A human motion clip on the canonical skeleton.

    Attributes:
      positions: [T, 24, 3] float32 joint positions, metres, z-up world, SMPL joint order.
      fps: frames per second.
      joint_names: the joint names, SMPL order.
      mask: [24] bool, True where the source provides the joint (None = all).
      orientations: [T, 24, 4] global joint orientations as wxyz quaternions, or None.
      smpl_params: SMPL(-X) parameters (betas, global_orient, body_pose, transl, gender, ...), or None.
      height: subject height in metres, or None.
      source: the file the motion came from.
    """

    positions: np.ndarray
    fps: float
    joint_names: tuple[str, ...] = SMPL_JOINT_NAMES
    mask: np.ndarray | None = None
    orientations: np.ndarray | None = None
    smpl_params: dict[str, np.ndarray] | None = None
    height: float | None = None
    source: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame."""
        return (self.num_frames - 1) / self.fps


# Plausibility limits for validation (metres).
MIN_HEIGHT, MAX_HEIGHT = 0.5, 2.6
MAX_BONE_LENGTH = 1.0  # Median joint-to-provided-ancestor distance; longer means wrong units or a wrong map.
MAX_EXTENT = 3.0  # Largest span of one frame's joints along any axis.

# SMPL parameters holding axis-angle rotations (3 numbers per joint): resampled by slerp, the rest linearly.
AXIS_ANGLE_PARAMS = frozenset({
    "global_orient", "body_pose", "jaw_pose", "leye_pose", "reye_pose", "left_hand_pose", "right_hand_pose",
    "poses", "root_orient", "pose_body", "pose_hand", "pose_jaw", "pose_eye",
})


def _fail(motion: HumanMotion, problem: str) -> MotionFormatError:
    return MotionFormatError(f"{motion.source or '<motion>'}: {problem}")


def validate(motion: HumanMotion) -> None:
    """Checks shapes, finiteness, frame rate, bone lengths and height.

    Raises:
      MotionFormatError: one line naming `motion.source` and the first problem found.
    """
    positions = motion.positions
    if positions.ndim != 3 or positions.shape[1:] != (len(SMPL_JOINT_NAMES), 3):
        raise _fail(motion, f"positions have shape {positions.shape}, expected [T, {len(SMPL_JOINT_NAMES)}, 3]")
    if positions.shape[0] < 1:
        raise _fail(motion, "no frames")
    if tuple(motion.joint_names) != SMPL_JOINT_NAMES:
        raise _fail(motion, "joint names are not the 24 SMPL joints in SMPL order")
    limits.check_fps(motion.source or "<motion>", motion.fps, MotionFormatError)
    limits.check_frames(motion.source or "<motion>", positions.shape[0], MotionFormatError)
    bad = np.argwhere(~np.isfinite(positions))
    if bad.size:
        frame, joint = bad[0][:2]
        raise _fail(motion, f"non-finite position at frame {frame}, joint {SMPL_JOINT_NAMES[joint]}")
    mask = np.ones(len(SMPL_JOINT_NAMES), bool) if motion.mask is None else motion.mask
    if mask.shape != (len(SMPL_JOINT_NAMES),) or mask.dtype != bool:
        raise _fail(motion, f"mask must be [{len(SMPL_JOINT_NAMES)}] bool, got {mask.dtype} {mask.shape}")
    if motion.orientations is not None:
        if motion.orientations.shape != positions.shape[:2] + (4,):
            expected = positions.shape[:2] + (4,)
            raise _fail(motion, f"orientations have shape {motion.orientations.shape}, expected {expected}")
        norms = np.linalg.norm(motion.orientations, axis=-1)
        if not np.all(np.abs(norms - 1.0) < 1e-3):
            raise _fail(motion, "orientations are not finite unit quaternions")
    extent = np.max(np.ptp(positions[:, mask], axis=1), axis=-1)
    worst = int(np.argmax(extent))
    if extent[worst] > MAX_EXTENT:
        raise _fail(motion, f"frame {worst} spans {extent[worst]:.3g} m (> {MAX_EXTENT} m): wrong units?")
    bones = _bone_lengths(positions, mask)
    if bones:
        name, length = max(bones.items(), key=lambda item: item[1])
        if length > MAX_BONE_LENGTH:
            raise _fail(
                motion, f"bone to {name} is {length:.3g} m long (> {MAX_BONE_LENGTH} m): wrong units or joint map?")
        if max(bones.values()) < 1e-3:
            raise _fail(motion, "all joints coincide")
    if motion.height is not None and not MIN_HEIGHT <= motion.height <= MAX_HEIGHT:
        raise _fail(
            motion, f"subject height {motion.height:.3g} m is outside [{MIN_HEIGHT}, {MAX_HEIGHT}] m: wrong units?")


def _bone_lengths(positions: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Median distance over frames from each provided joint to its nearest provided SMPL ancestor."""
    pairs = [(joint, nearest_provided_ancestor(joint, mask)) for joint in range(len(SMPL_JOINT_NAMES)) if mask[joint]]
    pairs = [(joint, parent) for joint, parent in pairs if parent >= 0]
    if not pairs:
        return {}
    joints, parents = (list(column) for column in zip(*pairs))
    lengths = np.median(np.linalg.norm(positions[:, joints] - positions[:, parents], axis=-1), axis=0)
    return {SMPL_JOINT_NAMES[joint]: float(length) for joint, length in zip(joints, lengths)}


def nearest_provided_ancestor(joint: int, mask: np.ndarray) -> int:
    """The closest ancestor of `joint` (SMPL tree) that the source provides, or -1."""
    parent = SMPL_PARENTS[joint]
    while parent >= 0 and not mask[parent]:
        parent = SMPL_PARENTS[parent]
    return parent


# Per-subject SMPL parameters: one value for the whole clip, never sliced or interpolated over time.
SUBJECT_PARAMS = ("betas",)


def _per_frame_params(motion: HumanMotion) -> dict[str, np.ndarray]:
    """The SMPL parameters with one row per frame."""
    if not motion.smpl_params:
        return {}
    return {k: v for k, v in motion.smpl_params.items()
            if k not in SUBJECT_PARAMS and isinstance(v, np.ndarray) and v.ndim >= 1
            and v.shape[0] == motion.num_frames and v.dtype.kind == "f"}


def trim(motion: HumanMotion, start: int = 0, stop: int | None = None) -> HumanMotion:
    """Frames [start, stop) of a motion (Python slice semantics for negative indices)."""
    frames = slice(start, stop)
    if len(range(motion.num_frames)[frames]) < 1:
        raise _fail(motion, f"trimming to frames [{start}, {stop}) leaves no frames of {motion.num_frames}")
    smpl_params = motion.smpl_params
    if smpl_params:
        smpl_params = {**smpl_params, **{k: v[frames] for k, v in _per_frame_params(motion).items()}}
    return dataclasses.replace(
        motion,
        positions=motion.positions[frames],
        orientations=None if motion.orientations is None else motion.orientations[frames],
        smpl_params=smpl_params,
    )


def resample(motion: HumanMotion, fps: float) -> HumanMotion:
    """The motion at another frame rate over the same time span (from the first frame, as long as it fits).

    Positions and non-rotation SMPL parameters are interpolated linearly, orientations and axis-angle
    SMPL parameters (`AXIS_ANGLE_PARAMS`) by slerp.
    """
    limits.check_range(motion.source or "<motion>", "resampling rate", fps, limits.MIN_FPS, limits.MAX_FPS, " fps",
                       MotionFormatError)
    times = np.arange(motion.num_frames) / motion.fps
    new_times = np.arange(int(np.floor(motion.duration * fps + 1e-6)) + 1) / fps
    positions = interpolate_linear(times, motion.positions, new_times)
    orientations = None
    if motion.orientations is not None:
        xyzw = np.roll(motion.orientations, -1, axis=-1)
        orientations = np.roll(_slerp(times, xyzw, new_times), 1, axis=-1).astype(np.float32)
    smpl_params = motion.smpl_params
    if smpl_params:
        resampled = {}
        for key, value in _per_frame_params(motion).items():
            if key in AXIS_ANGLE_PARAMS and value.shape[-1] % 3 == 0:
                rotvecs = value.reshape(value.shape[0], -1, 3)
                xyzw = Rotation.from_rotvec(rotvecs.reshape(-1, 3)).as_quat().reshape(*rotvecs.shape[:2], 4)
                new = _slerp(times, xyzw, new_times)
                resampled[key] = Rotation.from_quat(new.reshape(-1, 4)).as_rotvec().reshape(
                    (len(new_times),) + value.shape[1:]).astype(value.dtype)
            else:
                resampled[key] = interpolate_linear(times, value, new_times).astype(value.dtype)
        smpl_params = {**smpl_params, **resampled}
    return dataclasses.replace(
        motion, positions=positions.astype(np.float32), fps=float(fps), orientations=orientations,
        smpl_params=smpl_params)


def interpolate_linear(times: np.ndarray, values: np.ndarray, new_times: np.ndarray) -> np.ndarray:
    """Linear interpolation of `values` ([T, ...], sampled at increasing `times`) along the first axis."""
    if len(times) == 1:
        return np.repeat(values, len(new_times), axis=0)
    flat = values.reshape(len(times), -1)
    index = np.clip(np.searchsorted(times, new_times, side="right") - 1, 0, len(times) - 2)
    weight = ((new_times - times[index]) / (times[index + 1] - times[index]))[:, None]
    return ((1.0 - weight) * flat[index] + weight * flat[index + 1]).reshape((len(new_times),) + values.shape[1:])


def _slerp(times: np.ndarray, xyzw: np.ndarray, new_times: np.ndarray) -> np.ndarray:
    """Slerp of [T, J, 4] xyzw quaternions along the first axis."""
    if len(times) == 1:
        return np.repeat(xyzw, len(new_times), axis=0)
    new_times = np.clip(new_times, times[0], times[-1])
    out = np.empty((len(new_times),) + xyzw.shape[1:])
    for joint in range(xyzw.shape[1]):
        out[:, joint] = Slerp(times, Rotation.from_quat(xyzw[:, joint]))(new_times).as_quat()
    return out


def save_npz(motion: HumanMotion, path: str | os.PathLike, *, inputs=(), overwrite: bool = False) -> None:
    """Writes a motion as `.npz` (loadable with `allow_pickle=False`) with `files.write_atomic` (`inputs`,
    `overwrite`: see there)."""
    arrays = {
        "positions": np.asarray(motion.positions, np.float32),
        "fps": np.float64(motion.fps),
        "joint_names": np.array(motion.joint_names),
        "source": np.array(motion.source),
    }
    if motion.mask is not None:
        arrays["mask"] = np.asarray(motion.mask, bool)
    if motion.orientations is not None:
        arrays["orientations"] = np.asarray(motion.orientations, np.float32)
    if motion.height is not None:
        arrays["height"] = np.float64(motion.height)
    for key, value in (motion.smpl_params or {}).items():
        value = np.asarray(value)
        if value.dtype == object:
            raise _fail(motion, f"SMPL parameter {key!r} is not a plain array and cannot be saved")
        arrays[SMPL_PREFIX + key] = value
    files.write_atomic(path, lambda file: np.savez(file, **arrays), "human_motion", inputs=inputs, overwrite=overwrite)


SMPL_PREFIX = "smpl_"
_NPZ_KEYS = frozenset({"positions", "fps", "joint_names", "source", "mask", "orientations", "height"})


def load_npz(path: str | os.PathLike) -> HumanMotion:
    """Reads a motion written by `save_npz` (never unpickles) and validates it.

    Raises:
      MotionFormatError: unreadable file, missing or malformed keys, or an implausible motion.
    """
    name = str(path)
    arrays = read_npz(path, MotionFormatError)
    missing = [key for key in ("positions", "fps", "joint_names") if key not in arrays]
    if missing:
        raise MotionFormatError(f"{name}: missing keys {', '.join(missing)}")
    unknown = [key for key in arrays if key not in _NPZ_KEYS and not key.startswith(SMPL_PREFIX)]
    if unknown:
        raise MotionFormatError(f"{name}: unexpected keys {', '.join(unknown)}")
    if arrays["fps"].shape != () or arrays["fps"].dtype.kind not in "iuf" or arrays["positions"].dtype.kind != "f":
        raise MotionFormatError(f"{name}: fps must be a number and positions floating point "
                                f"(got {arrays['fps'].dtype} {arrays['fps'].shape} and {arrays['positions'].dtype})")
    motion = HumanMotion(
        positions=arrays["positions"].astype(np.float32),
        fps=float(arrays["fps"]),
        joint_names=tuple(str(n) for n in arrays["joint_names"].reshape(-1)),
        mask=arrays["mask"].astype(bool) if "mask" in arrays else None,
        orientations=arrays["orientations"].astype(np.float32) if "orientations" in arrays else None,
        smpl_params={k[len(SMPL_PREFIX):]: v for k, v in arrays.items() if k.startswith(SMPL_PREFIX)} or None,
        height=float(arrays["height"]) if "height" in arrays else None,
        source=name,
    )
    validate(motion)
    return dataclasses.replace(motion, source=str(arrays["source"]) if "source" in arrays else name)


def read_npz(path: str | os.PathLike, error_type: type[Exception]) -> dict[str, np.ndarray]:
    """Every array of an `.npz` file, never unpickling; an unreadable file raises `error_type` naming it."""
    try:
        with files.open_npz(path, error_type) as data:
            return {key: data[key] for key in data.files}
    except InputError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise error_type(f"{path}: cannot read as .npz ({one_line(error)})") from None
