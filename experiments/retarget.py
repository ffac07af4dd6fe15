"""Retargets human motion files to the G1.

    python -m experiments.retarget --input=walk.bvh --output=walk.npz [--render]
    python -m experiments.retarget --input=motions/ --output=retargeted/ [--config.cg_iterations=8]

A folder in gives `<stem>.npz` per motion file out (at the source frame rate); the quality report is printed as a
table and written as JSON (`<output>.report.json` for a file, `<output>/report.json` for a folder). With `--render`,
a GIF of the robot with the scaled human keypoints as green spheres is written next to each output (skipped with a
message when no OpenGL backend is available). Unreadable inputs are reported in one line each and skipped; the exit
status is 1 when any input failed.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import tempfile

from absl import app, flags
from ml_collections import config_flags

import configs.retarget

_INPUT = flags.DEFINE_string("input", None, "A motion file or a folder of motion files.")
_OUTPUT = flags.DEFINE_string("output", None, "The .npz file (for a file in) or folder (for a folder in) to write.")
_RENDER = flags.DEFINE_boolean("render", False, "Also render a GIF next to each output.")
_MODEL_DIR = flags.DEFINE_string("model_dir", None, "Folder of SMPL/SMPL-X model files, for SMPL parameter sources.")
_CONFIG = config_flags.DEFINE_config_file("config", configs.retarget.__file__, "Retargeting options.")


def _write_json(data: dict, path: pathlib.Path) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        json.dump(data, tmp, indent=2)
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, path)


def _jobs(source: pathlib.Path, output: pathlib.Path, suffixes: tuple[str, ...]) -> list[tuple[pathlib.Path, pathlib.Path]]:
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        return [(f, output / f"{f.stem}.npz") for f in files]
    return [(source, output)]


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not _INPUT.value or not _OUTPUT.value:
        raise app.UsageError("--input and --output are required")
    if _RENDER.value:
        from genmimic_jax.viz import gl  # Before anything imports mujoco.

        gl.select_gl_backend()
    return run(_INPUT.value, _OUTPUT.value, _CONFIG.value, render=_RENDER.value, model_dir=_MODEL_DIR.value)


def run(input_path: str, output_path: str, config, render: bool = False, model_dir: str | None = None) -> int:
    """Retargets a file or folder (see the module docstring); returns the exit status."""
    import tqdm

    from genmimic_jax.human.io import MOTION_SUFFIXES, load_motion
    from genmimic_jax.human.motion import MotionFormatError, validate
    from genmimic_jax.retarget import io, pipeline, report

    source, output = pathlib.Path(input_path), pathlib.Path(output_path)
    if not source.exists():
        print(f"error: {source}: no such file or folder", file=sys.stderr)
        return 1
    folder = source.is_dir()
    if folder:
        output.mkdir(parents=True, exist_ok=True)
    elif output.suffix != ".npz":
        print(f"error: {output}: the output for one file must be a .npz path", file=sys.stderr)
        return 1
    elif not output.parent.is_dir():
        print(f"error: {output.parent}: no such folder", file=sys.stderr)
        return 1
    jobs = _jobs(source, output, MOTION_SUFFIXES)
    if not jobs:
        print(f"error: {source}: no motion files ({', '.join(MOTION_SUFFIXES)})", file=sys.stderr)
        return 1

    retargeter = pipeline.Retargeter(config)
    reports, failed, render_note = {}, 0, None
    progress = tqdm.tqdm(total=len(jobs), unit="clip", disable=not folder)

    def flush(batch):
        nonlocal render_note
        for (path, out), result in zip([b[:2] for b in batch], retargeter([b[2] for b in batch])):
            io.save_robot_motion(result.motion, out, result.report)
            reports[path.name] = result.report
            if render and render_note is None:
                render_note = _render(result, out.with_suffix(".gif"))
        progress.update(len(batch))

    batch, frames = [], 0
    for path, out in jobs:
        try:
            human = load_motion(path, model_dir=model_dir)
            validate(human)
        except MotionFormatError as error:
            tqdm.tqdm.write(f"error: {error}", file=sys.stderr)
            failed += 1
            progress.update(1)
            continue
        if batch and frames + human.num_frames > config.max_batch_frames:
            flush(batch)
            batch, frames = [], 0
        batch.append((path, out, human))
        frames += human.num_frames
    if batch:
        flush(batch)
    progress.close()
    if render_note:
        print(render_note, file=sys.stderr)
    if reports:
        print(report.format_table(reports))
        print(report.REFERENCE)
        report_path = output / "report.json" if folder else output.with_suffix(".report.json")
        _write_json(reports if folder else next(iter(reports.values())), report_path)
        print(f"wrote {len(reports)} motion(s) and {report_path}")
    return 1 if failed else 0


def _render(result, path: pathlib.Path) -> str | None:
    """Renders one result; returns a message when rendering is unavailable (then no further renders are tried)."""
    from genmimic_jax.viz import render

    try:
        render.render(result.motion.qpos, result.motion.fps, path, result.targets)
    except render.RenderUnavailable as error:
        return f"render skipped: {error}"
    return None


if __name__ == "__main__":
    app.run(main)
