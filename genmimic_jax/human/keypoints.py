"""Raw 3D keypoint files (`.npz` or `.json`) with a name list, mapped to the SMPL-24 skeleton.

Layout (same keys in both formats):
- `positions`: [T, K, 3] numbers (JSON: nested lists; `null` counts as missing and is rejected).
- `names` (or `joint_names` / `keypoint_names`): K keypoint names, SMPL names unless a name map is given.
- `fps` (scalar) or `timestamps` ([T] seconds, strictly increasing; unevenly spaced frames are resampled
  linearly to the median frame interval).
`.npz` files are read with `allow_pickle=False`: names must be a string array, not Python objects.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from genmimic_jax import files, limits
from genmimic_jax.human import canonical
from genmimic_jax.human.motion import HumanMotion, MotionFormatError, interpolate_linear
from genmimic_jax.human.skeleton import JOINT_INDEX, NUM_JOINTS

NAME_KEYS = ("names", "joint_names", "keypoint_names")
# Frame intervals may differ from the median by this fraction before frames count as unevenly spaced.
TIMESTAMP_TOLERANCE = 0.01


def _read_npz(path: str) -> dict[str, np.ndarray]:
    try:
        with files.open_npz(path, MotionFormatError) as data:
            return {key: data[key] for key in data.files}
    except MotionFormatError:
        raise
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise MotionFormatError(
                f"{path}: holds Python objects (pickled arrays); store names as a string array") from None
        raise MotionFormatError(f"{path}: cannot read as .npz ({' '.join(str(error).split())})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise MotionFormatError(f"{path}: cannot read as .npz ({' '.join(str(error).split())})") from None


def _read_json(path: str) -> dict:
    data = files.load_json(path, MotionFormatError)
    if not isinstance(data, dict):
        raise MotionFormatError(f"{path}: expected a JSON object with positions, names and fps")
    return data


def _smpl_columns(names: list[str], name_map: dict[str, str | None] | None, path: str) -> dict[int, int]:
    """SMPL joint index -> source column, after applying `name_map` (a `None` target drops a keypoint)."""
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise MotionFormatError(f"{path}: repeated keypoint names {', '.join(repeated)}")
    name_map = name_map or {}
    absent = [name for name in name_map if name not in names]
    if absent:
        raise MotionFormatError(f"{path}: name map refers to keypoints not in the file: {', '.join(absent)}")
    targets = {name: name_map.get(name, name) for name in names}
    unknown = [name for name, smpl in targets.items() if smpl is not None and smpl not in JOINT_INDEX]
    if unknown:
        raise MotionFormatError(
            f"{path}: unknown keypoint names {', '.join(unknown)} (not SMPL joints; pass a name map)")
    kept = [smpl for smpl in targets.values() if smpl is not None]
    repeated = sorted({smpl for smpl in kept if kept.count(smpl) > 1})
    if repeated:
        raise MotionFormatError(f"{path}: several keypoints map to {', '.join(repeated)}")
    return {JOINT_INDEX[smpl]: column for column, smpl in enumerate(targets.values()) if smpl is not None}


def _frame_times(data: dict, num_frames: int, path: str) -> tuple[float, np.ndarray | None]:
    """The frame rate, and the timestamps when frames are unevenly spaced (else None)."""
    if ("fps" in data) == ("timestamps" in data):
        raise MotionFormatError(f"{path}: give exactly one of fps and timestamps")
    if "fps" in data:
        try:
            fps = float(np.asarray(data["fps"], dtype=np.float64).reshape(()))
        except (TypeError, ValueError):
            raise MotionFormatError(f"{path}: fps must be one number, got {data['fps']!r}") from None
        return limits.check_fps(path, fps, MotionFormatError), None
    try:
        times = np.asarray(data["timestamps"], dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise MotionFormatError(f"{path}: timestamps must be numbers") from None
    if times.shape != (num_frames,) or not np.all(np.isfinite(times)):
        raise MotionFormatError(f"{path}: need {num_frames} finite timestamps, got {times.size}")
    if num_frames == 1:
        raise MotionFormatError(f"{path}: one timestamp does not give a frame rate; give fps instead")
    steps = np.diff(times)
    if np.any(steps <= 0):
        frame = int(np.argmax(steps <= 0)) + 1
        raise MotionFormatError(f"{path}: timestamps do not increase at frame {frame}")
    step = float(np.median(steps))
    limits.check_fps(path, 1.0 / step, MotionFormatError)
    uneven = np.any(np.abs(steps - step) > TIMESTAMP_TOLERANCE * step)
    return 1.0 / step, (times if uneven else None)


def load_keypoints(
    path: str | os.PathLike,
    *,
    name_map: dict[str, str | None] | None = None,
    up_axis: str = "auto",
    unit: str | float = "auto",
    on_floor: bool = True,
) -> HumanMotion:
    """Reads a keypoint `.npz` or `.json` file as a `HumanMotion` (options as in `canonical.to_canonical`).

    Raises:
      MotionFormatError: unreadable file, missing keys, unknown names, bad values or an implausible result.
    """
    path = str(path)
    data = _read_json(path) if path.lower().endswith(".json") else _read_npz(path)
    name_key = next((key for key in NAME_KEYS if key in data), None)
    missing = [key for key, present in (("positions", "positions" in data), ("names", name_key)) if not present]
    if missing:
        raise MotionFormatError(f"{path}: missing keys {', '.join(missing)}")
    try:
        positions = np.asarray(data["positions"], dtype=np.float64)
        names = [str(name) for name in np.asarray(data[name_key]).reshape(-1).tolist()]
    except (TypeError, ValueError):
        raise MotionFormatError(f"{path}: positions must be a [T, K, 3] array of numbers") from None
    if positions.size == 0:
        raise MotionFormatError(f"{path}: no frames")
    if positions.ndim != 3 or positions.shape[-1] != 3 or positions.shape[1] != len(names):
        raise MotionFormatError(
            f"{path}: positions have shape {positions.shape}, expected [T, {len(names)}, 3] for {len(names)} names")
    bad = np.argwhere(~np.isfinite(positions))
    if bad.size:
        raise MotionFormatError(f"{path}: non-finite position at frame {bad[0][0]}, keypoint {names[bad[0][1]]}")
    columns = _smpl_columns(names, name_map, path)
    fps, uneven_times = _frame_times(data, positions.shape[0], path)
    if uneven_times is not None:
        num_frames = int(np.floor((uneven_times[-1] - uneven_times[0]) * fps + 1e-6)) + 1
        uniform = uneven_times[0] + np.arange(num_frames) / fps
        positions = interpolate_linear(uneven_times, positions, uniform)
    mask = np.zeros(NUM_JOINTS, bool)
    raw = np.zeros((positions.shape[0], NUM_JOINTS, 3))
    for joint, column in columns.items():
        mask[joint] = True
        raw[:, joint] = positions[:, column]
    return canonical.to_canonical(raw, mask, fps, up_axis=up_axis, unit=unit, on_floor=on_floor, source=path)
