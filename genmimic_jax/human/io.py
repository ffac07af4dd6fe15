"""`load_motion`: any supported human motion file as a canonical `HumanMotion`.

Dispatch:
- `.bvh`: `bvh.load_bvh`.
- `.json`: `keypoints.load_keypoints`.
- `.npz`: a canonical motion (`positions` + `joint_names` holding the 24 SMPL names, as `save_npz` writes) goes to
  `motion.load_npz`; other files with `positions` and a name list to `keypoints.load_keypoints`; anything else
  (AMASS / SMPL parameter files) to `smpl_files.load_smpl_motion`.
- `.npy`, `.pkl`, `.pt`, `.pth`: `smpl_files.load_smpl_motion` (lifter result files: TRAM, WHAM, GVHMR).
"""

from __future__ import annotations

import os
import pathlib
import zipfile

from genmimic_jax import files
from genmimic_jax.human import bvh, keypoints
from genmimic_jax.human.motion import HumanMotion, MotionFormatError, load_npz
from genmimic_jax.human.skeleton import SMPL_JOINT_NAMES

MOTION_SUFFIXES = (".bvh", ".json", ".npz", ".npy", ".pkl", ".pt", ".pth")


def _npz_kind(path: pathlib.Path) -> str:
    """`'canonical'`, `'keypoints'` or `'smpl'` from an `.npz` file's keys (never unpickles)."""
    try:
        with files.open_npz(path, MotionFormatError) as data:
            keys = set(data.files)
            if "positions" not in keys:
                return "smpl"
            if "joint_names" in keys:
                try:
                    names = tuple(str(n) for n in data["joint_names"].reshape(-1))
                except ValueError:  # Names pickled as Python objects: let the keypoint loader explain.
                    return "keypoints"
                if names == SMPL_JOINT_NAMES and "names" not in keys:
                    return "canonical"
            return "keypoints"
    except MotionFormatError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise MotionFormatError(f"{path}: cannot read as .npz ({' '.join(str(error).split())})") from None


def load_motion(
    path: str | os.PathLike,
    *,
    up_axis: str = "auto",
    unit: str | float = "auto",
    name_map: dict[str, str | None] | None = None,
    on_floor: bool = True,
    model_dir: str | os.PathLike | None = None,
    source_fps: float | None = None,
) -> HumanMotion:
    """Loads any supported motion file (see the module docstring).

    Args:
      path: the file.
      up_axis, unit, on_floor: BVH and keypoint sources (see `canonical.to_canonical`).
      name_map: {source joint name: SMPL joint name} for BVH and keypoint sources.
      model_dir: folder of SMPL / SMPL-X model files, for SMPL parameter sources.
      source_fps: frame rate of SMPL lifter results, which store none (default: `smpl_files`' default).

    Raises:
      MotionFormatError: one line naming the file and the problem.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise MotionFormatError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in MOTION_SUFFIXES:
        raise MotionFormatError(
            f"{path}: unsupported file type {suffix or '(none)'} (expected {', '.join(MOTION_SUFFIXES)})")
    source_options = dict(up_axis=up_axis, unit=unit, on_floor=on_floor)
    if suffix == ".bvh":
        return bvh.load_bvh(path, name_map=name_map, **source_options)
    if suffix == ".json":
        return keypoints.load_keypoints(path, name_map=name_map, **source_options)
    if suffix == ".npz":
        kind = _npz_kind(path)
        if kind == "canonical":
            return load_npz(path)
        if kind == "keypoints":
            return keypoints.load_keypoints(path, name_map=name_map, **source_options)
    from genmimic_jax.human import smpl_files  # Only SMPL sources need the body model.

    return smpl_files.load_smpl_motion(path, model_dir=model_dir, fps=source_fps)
