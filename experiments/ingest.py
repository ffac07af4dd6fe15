"""Converts human motion files (BVH, keypoints, SMPL parameters) to canonical `.npz` motions.

    python -m experiments.ingest --input=<file or folder> --output=<file or folder> [--config.fps=50]

A folder in gives `<input stem>.npz` per supported file out. Prints a summary table; a bad file prints one
line (file and problem), the others are still converted, and the exit status is non-zero.
"""

from __future__ import annotations

import json
import pathlib
import sys

from absl import app, flags
from ml_collections import config_flags

import configs.ingest
from genmimic_jax.human.io import MOTION_SUFFIXES, load_motion
from genmimic_jax.human.motion import HumanMotion, MotionFormatError, resample, save_npz, trim

_INPUT = flags.DEFINE_string("input", None, "A motion file, or a folder of them.", required=True)
_OUTPUT = flags.DEFINE_string("output", None, "The .npz file, or the folder for a folder input.", required=True)
_CONFIG = config_flags.DEFINE_config_file("config", configs.ingest.__file__, "Ingest options (configs/ingest.py).")


def _load_name_map(path: str) -> dict[str, str | None] | None:
    if not path:
        return None
    try:
        name_map = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MotionFormatError(f"{path}: cannot read the name map ({' '.join(str(error).split())})") from None
    if not isinstance(name_map, dict) or not all(isinstance(v, (str, type(None))) for v in name_map.values()):
        raise MotionFormatError(f"{path}: the name map must be a JSON object of joint name -> SMPL name or null")
    return name_map


def convert(source: pathlib.Path, target: pathlib.Path, config, name_map) -> HumanMotion:
    """Loads, trims and resamples one file as `config` asks, and writes it to `target` atomically."""
    if target.resolve() == source.resolve():
        raise MotionFormatError(f"{source}: the output would overwrite the input")
    try:
        unit = float(config.unit)  # Metres per source unit.
    except ValueError:
        unit = config.unit
    motion = load_motion(
        source, up_axis=config.up_axis, unit=unit, name_map=name_map, on_floor=config.on_floor,
        model_dir=config.model_dir or None, source_fps=config.source_fps or None)
    if config.start_s > 0 or config.end_s >= 0:
        start = int(round(config.start_s * motion.fps))
        stop = int(round(config.end_s * motion.fps)) + 1 if config.end_s >= 0 else None
        motion = trim(motion, start, stop)
    if config.fps > 0 and config.fps != motion.fps:
        motion = resample(motion, config.fps)
    save_npz(motion, target)
    return motion


def _summary_row(name: str, motion: HumanMotion) -> str:
    height = f"{motion.height:.3f}" if motion.height is not None else "-"
    provided = motion.positions.shape[1] if motion.mask is None else int(motion.mask.sum())
    return (f"{name:<40} {motion.num_frames:>7} {motion.fps:>7.2f} {motion.duration:>9.2f} {height:>8} "
            f"{provided:>3}/{motion.positions.shape[1]}")


def _plan(source: pathlib.Path, output: pathlib.Path) -> list[tuple[pathlib.Path, pathlib.Path]]:
    """(input file, output file) pairs."""
    if source.is_dir():
        if output.exists() and not output.is_dir():
            raise MotionFormatError(f"{output}: the input is a folder, so the output must be a folder")
        files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in MOTION_SUFFIXES)
        if not files:
            raise MotionFormatError(f"{source}: no motion files ({', '.join(MOTION_SUFFIXES)})")
        output.mkdir(parents=True, exist_ok=True)
        return [(p, output / f"{p.stem}.npz") for p in files]
    if not source.is_file():
        raise MotionFormatError(f"{source}: no such file or folder")
    if output.is_dir():
        return [(source, output / f"{source.stem}.npz")]
    if output.suffix != ".npz":
        raise MotionFormatError(f"{output}: the output file must end in .npz")
    return [(source, output)]


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    config = _CONFIG.value
    try:
        name_map = _load_name_map(config.name_map)
        plan = _plan(pathlib.Path(_INPUT.value), pathlib.Path(_OUTPUT.value))
    except MotionFormatError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{'file':<40} {'frames':>7} {'fps':>7} {'seconds':>9} {'height':>8} joints")
    failures, written = [], {}
    for source, target in plan:
        try:
            if target in written:
                raise MotionFormatError(f"{source}: output {target.name} clashes with {written[target].name}")
            motion = convert(source, target, config, name_map)
        except (ValueError, OSError) as error:  # MotionFormatError and the body model / pickle errors are ValueErrors.
            failures.append(str(error))
            print(f"error: {error}", file=sys.stderr)
            continue
        written[target] = source
        print(_summary_row(source.name, motion))
    if len(plan) > 1 and failures:
        print(f"{len(failures)} of {len(plan)} files failed:", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    app.run(main)
