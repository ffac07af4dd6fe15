"""Converts human motion files (BVH, keypoints, SMPL parameters) to canonical `.npz` motions.

    python -m experiments.ingest --input=<file or folder> --output=<file or folder> [--config.fps=50]

A folder in gives `<input stem>.npz` per supported file out. Prints a summary table; a bad file prints one
line (file and problem), the others are still converted, and the exit status is 1 (see experiments.cli). Outputs
never replace an input, nor an existing file that is not a human motion unless --overwrite.
"""

from __future__ import annotations

import pathlib
import sys

from absl import app

import configs.ingest
from experiments import cli
from genmimic_jax import files, limits
from genmimic_jax.errors import InputError
from genmimic_jax.human.io import MOTION_SUFFIXES, load_motion
from genmimic_jax.human.motion import HumanMotion, MotionFormatError, resample, save_npz, trim

_INPUT = cli.define_string("input", "A motion file, or a folder of them.")
_OUTPUT = cli.define_string("output", "The .npz file, or the folder for a folder input.")
_OVERWRITE = cli.define_overwrite()
_CONFIG = cli.define_config(configs.ingest.__file__, "Ingest options (configs/ingest.py).")


def _load_name_map(path: str) -> dict[str, str | None] | None:
    if not path:
        return None
    name_map = files.load_json(path, MotionFormatError)
    if not isinstance(name_map, dict) or not all(isinstance(v, (str, type(None))) for v in name_map.values()):
        raise MotionFormatError(f"{path}: the name map must be a JSON object of joint name -> SMPL name or null")
    return name_map


def check_config(config) -> None:
    """Refuses config values outside their ranges (`--config.fps` 0 or a plausible rate, times not negative)."""
    if config.fps != 0:
        limits.check_range("--config.fps", "resampling rate", config.fps, limits.MIN_FPS, limits.MAX_FPS,
                           " fps (or 0 to keep the source's)")
    if config.source_fps != 0:
        limits.check_fps("--config.source_fps", config.source_fps)
    limits.check_range("--config.start_s", "start time", config.start_s, 0, float("inf"), " s")
    if config.end_s >= 0 and config.end_s < config.start_s:
        raise InputError(f"--config.end_s: {config.end_s:g} s is before --config.start_s={config.start_s:g} s")


def convert(source: pathlib.Path, target: pathlib.Path, config, name_map, inputs=(),
            overwrite: bool = False) -> HumanMotion:
    """Loads, trims and resamples one file as `config` asks, and writes it to `target` atomically (never over one
    of `inputs`)."""
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
    save_npz(motion, target, inputs=inputs, overwrite=overwrite)
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
        motions = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in MOTION_SUFFIXES)
        if not motions:
            raise MotionFormatError(f"{source}: no motion files ({', '.join(MOTION_SUFFIXES)})")
        files.make_folder(output)
        return [(p, output / f"{p.stem}.npz") for p in motions]
    if not source.is_file():
        raise MotionFormatError(f"{source}: no such file or folder")
    if output.is_dir():
        return [(source, output / f"{source.stem}.npz")]
    if output.suffix != ".npz":
        raise MotionFormatError(f"{output}: the output file must end in .npz")
    return [(source, output)]


def check_plan(plan: list[tuple[pathlib.Path, pathlib.Path]], overwrite: bool) -> None:
    """Refuses, before anything is read, outputs that would replace an input, clash, or replace a foreign file."""
    inputs = [source for source, _ in plan]
    targets: dict[pathlib.Path, pathlib.Path] = {}
    for source, target in plan:
        if target in targets:
            raise MotionFormatError(f"{source}: output {target} clashes with the output of {targets[target]}")
        targets[target] = source
        files.check_output(target, "human_motion", inputs=inputs, overwrite=overwrite)


def run(input_path: str | None, output_path: str | None, config, overwrite: bool = False) -> int:
    """Converts a file or a folder (see the module docstring); returns the exit status."""
    if not input_path or not output_path:
        raise app.UsageError("--input and --output are required")
    check_config(config)
    name_map = _load_name_map(config.name_map)
    plan = _plan(pathlib.Path(input_path), pathlib.Path(output_path))
    check_plan(plan, overwrite)
    inputs = [source for source, _ in plan]
    print(f"{'file':<40} {'frames':>7} {'fps':>7} {'seconds':>9} {'height':>8} joints")
    failures = []
    for source, target in plan:
        try:
            motion = convert(source, target, config, name_map, inputs, overwrite)
        except InputError as error:
            failures.append(str(error))
            cli.print_error(error)
            continue
        print(_summary_row(source.name, motion))
    if len(plan) > 1 and failures:
        print(f"{len(failures)} of {len(plan)} files failed:", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
    return cli.EXIT_INPUT if failures else cli.EXIT_OK


def main(argv: list[str]) -> int:
    cli.no_arguments(argv)
    return run(_INPUT.value, _OUTPUT.value, _CONFIG.value, _OVERWRITE.value)


if __name__ == "__main__":
    cli.run(main)
