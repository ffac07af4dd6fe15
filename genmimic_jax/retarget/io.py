"""Retargeted robot motions on disk: `.npz` with qpos, fps, robot keypoints, their names, the source and a report."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib

import numpy as np

from genmimic_jax import files, limits
from genmimic_jax.errors import InputError
from genmimic_jax.human.motion import read_npz
from genmimic_jax.robot.g1 import constants


class RobotMotionError(InputError):
    """A robot motion file that cannot be read; the message is one line naming the file and the problem."""


@dataclasses.dataclass(frozen=True)
class RobotMotion:
    """A G1 trajectory and its keypoint track.

    Attributes:
      qpos: [T, 36] float32: root position, root wxyz quaternion, 29 joint angles (MuJoCo order).
      fps: frames per second.
      keypoints: [T, K, 3] float32 world positions of the robot keypoints.
      keypoint_names: the K keypoint names (`constants.KEYPOINT_NAMES`).
      source: the file it was retargeted from.
      path: the file it was read from ('' when made in memory); errors about the clip name it.
    """

    qpos: np.ndarray
    fps: float
    keypoints: np.ndarray
    keypoint_names: tuple[str, ...] = constants.KEYPOINT_NAMES
    source: str = ""
    path: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.qpos.shape[0])


def save_robot_motion(motion: RobotMotion, path: str | os.PathLike, report: dict | None = None, *, inputs=(),
                      overwrite: bool = False) -> None:
    """Writes `motion` (and the quality report as JSON text under `report`) with `files.write_atomic` (`inputs`,
    `overwrite`: see there)."""
    arrays = {
        "qpos": np.asarray(motion.qpos, np.float32),
        "fps": np.float64(motion.fps),
        "keypoints": np.asarray(motion.keypoints, np.float32),
        "keypoint_names": np.array(motion.keypoint_names),
        "source": np.array(motion.source),
    }
    if report is not None:
        arrays["report"] = np.array(json.dumps(report))
    files.write_atomic(path, lambda file: np.savez(file, **arrays), "robot_motion", inputs=inputs, overwrite=overwrite)


def load_report(path: str | os.PathLike) -> dict:
    """The quality report stored with a retargeted motion ({} if it has none)."""
    with files.open_npz(path, RobotMotionError) as data:
        return json.loads(str(data["report"])) if "report" in data.files else {}


def load_robot_motion(path: str | os.PathLike) -> RobotMotion:
    """Reads and validates a retargeted motion (never unpickles).

    Raises:
      RobotMotionError: unreadable file, missing keys, wrong shapes or types, non-finite values, unknown keypoints,
        a frame rate or frame count beyond `limits`, joint angles beyond the G1's range by more than
        `limits.JOINT_RANGE_MARGIN`, or root quaternions that are not unit.
    """
    name = str(path)
    arrays = read_npz(path, RobotMotionError)
    missing = [k for k in ("qpos", "fps", "keypoints", "keypoint_names") if k not in arrays]
    if missing:
        raise RobotMotionError(f"{name}: missing keys {', '.join(missing)}")
    qpos, keypoints = arrays["qpos"], arrays["keypoints"]
    names = tuple(str(n) for n in arrays["keypoint_names"].reshape(-1))
    fps = arrays["fps"]
    for key, kinds in (("qpos", "f"), ("keypoints", "f"), ("fps", "iuf")):
        if arrays[key].dtype.kind not in kinds:
            raise RobotMotionError(f"{name}: {key} must be numbers, got dtype {arrays[key].dtype}")
    if qpos.ndim != 2 or qpos.shape[1] != constants.QPOS_SIZE or qpos.shape[0] < 1:
        raise RobotMotionError(f"{name}: qpos has shape {qpos.shape}, expected [T, {constants.QPOS_SIZE}]")
    if keypoints.shape != (qpos.shape[0], len(names), 3):
        raise RobotMotionError(f"{name}: keypoints have shape {keypoints.shape}, expected {(qpos.shape[0], len(names), 3)}")
    unknown = [n for n in names if n not in constants.KEYPOINT_INDEX]
    if unknown:
        raise RobotMotionError(f"{name}: unknown keypoint names {', '.join(unknown)}")
    if fps.shape != ():
        raise RobotMotionError(f"{name}: fps must be a scalar, got shape {fps.shape}")
    limits.check_fps(name, fps, RobotMotionError)
    limits.check_frames(name, qpos.shape[0], RobotMotionError)
    if not (np.isfinite(qpos).all() and np.isfinite(keypoints).all()):
        raise RobotMotionError(f"{name}: qpos or keypoints contain non-finite values")
    _check_plausible(name, qpos)
    return RobotMotion(
        qpos=qpos.astype(np.float32),
        fps=float(fps),
        keypoints=keypoints.astype(np.float32),
        keypoint_names=names,
        source=str(arrays["source"]) if "source" in arrays else "",
        path=name,
    )


def _check_plausible(name: str, qpos: np.ndarray) -> None:
    """Unit root quaternions and joint angles within the G1's range widened by `limits.JOINT_RANGE_MARGIN`."""
    norms = np.linalg.norm(qpos[:, 3:7], axis=-1)
    if not np.all(np.abs(norms - 1.0) < 1e-2):
        raise RobotMotionError(f"{name}: root quaternions qpos[:, 3:7] are not unit (norms {norms.min():.3g}.."
                               f"{norms.max():.3g})")
    low = constants.JOINT_LIMITS[:, 0] - limits.JOINT_RANGE_MARGIN
    high = constants.JOINT_LIMITS[:, 1] + limits.JOINT_RANGE_MARGIN
    joints = qpos[:, 7:]
    outside = np.argwhere((joints < low) | (joints > high))
    if outside.size:
        frame, joint = outside[0]
        raise RobotMotionError(
            f"{name}: joint {constants.JOINT_NAMES[joint]} is at {joints[frame, joint]:.3g} rad in frame {frame}, "
            f"outside its range [{low[joint]:.3g}, {high[joint]:.3g}] rad (the G1's, widened by "
            f"{limits.JOINT_RANGE_MARGIN} rad)")


def load_robot_motions(path: str | os.PathLike, max_clips: int = -1) -> tuple[list[RobotMotion], list[str]]:
    """The retargeted clips of a folder (every `.npz` below it, nested folders included, as `experiments.retarget`
    writes a dataset; hidden files and folders skipped; sorted by relative path) or of one `.npz` file, with their
    names (the relative path without `.npz`, e.g. `CMU/01/01_01_poses`); at most `max_clips` when it is positive.

    Raises:
      RobotMotionError: no such path, no motions in it, or a file `load_robot_motion` refuses.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        files = sorted((p for p in path.rglob("*.npz")
                        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)),
                       key=lambda p: p.relative_to(path).parts)
        names = [p.relative_to(path).with_suffix("").as_posix() for p in files]
    elif path.is_file():
        files, names = [path], [path.stem]
    else:
        raise RobotMotionError(f"{path}: no such file or folder")
    if max_clips > 0:
        files, names = files[:max_clips], names[:max_clips]
    if not files:
        raise RobotMotionError(f"{path}: no retargeted .npz motions")
    return [load_robot_motion(file) for file in files], names
