"""Retargets human motion files to the G1.

    python -m experiments.retarget --input=walk.bvh --output=walk.npz [--render]
    python -m experiments.retarget --input=motions/ --output=retargeted/ [--config.cg_iterations=8]

A folder in gives `<stem>.npz` per motion file out (at the source frame rate); the quality report is printed as a
table and written as JSON (`<output>.report.json` for a file, `<output>/report.json` for a folder). With `--render`,
a GIF of the robot with the scaled human keypoints as green spheres is written next to each output (skipped with a
message when no OpenGL backend is available). Unreadable inputs are reported in one line each and skipped; the exit
status is 1 when any input failed (see experiments.cli). Outputs never replace an input, nor an existing file that is
not a robot motion unless --overwrite; they are all checked before the first solve.
"""

from __future__ import annotations

import pathlib
import sys

from absl import app, flags

import configs.retarget
from experiments import cli
from genmimic_jax import files
from genmimic_jax.errors import InputError

_INPUT = cli.define_string("input", "A motion file or a folder of motion files.")
_OUTPUT = cli.define_string("output", "The .npz file (for a file in) or folder (for a folder in) to write.")
_OVERWRITE = cli.define_overwrite()
_RENDER = flags.DEFINE_boolean("render", False, "Also render a GIF next to each output.")
_MODEL_DIR = flags.DEFINE_string("model_dir", None, "Folder of SMPL/SMPL-X model files, for SMPL parameter sources.")
_CONFIG = cli.define_config(configs.retarget.__file__, "Retargeting options.")


def _jobs(source: pathlib.Path, output: pathlib.Path, suffixes: tuple[str, ...]) -> list[tuple[pathlib.Path, pathlib.Path]]:
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        return [(f, output / f"{f.stem}.npz") for f in files]
    return [(source, output)]


def main(argv: list[str]) -> int:
    cli.no_arguments(argv)
    if not _INPUT.value or not _OUTPUT.value:
        raise app.UsageError("--input and --output are required")
    if _RENDER.value:
        from genmimic_jax.viz import gl  # Before anything imports mujoco.

        gl.select_gl_backend()
    return run(_INPUT.value, _OUTPUT.value, _CONFIG.value, render=_RENDER.value, model_dir=_MODEL_DIR.value,
               overwrite=_OVERWRITE.value)


def check_outputs(jobs: list[tuple[pathlib.Path, pathlib.Path]], report_path: pathlib.Path, overwrite: bool) -> None:
    """Refuses, before any solve, outputs that would replace an input or a file of another kind."""
    inputs = [path for path, _ in jobs]
    for _, out in jobs:
        files.check_output(out, "robot_motion", inputs=inputs, overwrite=overwrite)
    files.check_output(report_path, "json", inputs=inputs, overwrite=overwrite)


def run(input_path: str, output_path: str, config, render: bool = False, model_dir: str | None = None,
        overwrite: bool = False) -> int:
    """Retargets a file or folder (see the module docstring); returns the exit status."""
    import tqdm

    from genmimic_jax.human.io import MOTION_SUFFIXES, load_motion
    from genmimic_jax.human.motion import validate
    from genmimic_jax.retarget import io, pipeline, report

    source, output = pathlib.Path(input_path), pathlib.Path(output_path)
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    folder = source.is_dir()
    if folder:
        output.mkdir(parents=True, exist_ok=True)
    elif output.suffix != ".npz":
        raise InputError(f"{output}: the output for one file must be a .npz path")
    elif not output.parent.is_dir():
        raise InputError(f"{output.parent}: no such folder")
    jobs = _jobs(source, output, MOTION_SUFFIXES)
    if not jobs:
        raise InputError(f"{source}: no motion files ({', '.join(MOTION_SUFFIXES)})")
    report_path = output / "report.json" if folder else output.with_suffix(".report.json")
    check_outputs(jobs, report_path, overwrite)
    inputs = [path for path, _ in jobs]

    retargeter = pipeline.Retargeter(config)
    reports, failed, render_note = {}, 0, None
    progress = tqdm.tqdm(total=len(jobs), unit="clip", disable=not folder)

    def flush(batch):
        nonlocal render_note
        for (path, out), result in zip([b[:2] for b in batch], retargeter([b[2] for b in batch])):
            io.save_robot_motion(result.motion, out, result.report, inputs=inputs, overwrite=overwrite)
            reports[path.name] = result.report
            if render and render_note is None:
                render_note = _render(result, out.with_suffix(".gif"))
        progress.update(len(batch))

    batch, frames = [], 0
    for path, out in jobs:
        try:
            human = load_motion(path, model_dir=model_dir)
            validate(human)
        except InputError as error:  # unreadable or implausible motions, body-model problems
            tqdm.tqdm.write(f"error: {cli.one_line(error)}", file=sys.stderr)
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
        files.write_json(report_path, reports if folder else next(iter(reports.values())), inputs=inputs,
                         overwrite=overwrite)
        print(f"wrote {len(reports)} motion(s) and {report_path}")
    return cli.EXIT_INPUT if failed else cli.EXIT_OK


def _render(result, path: pathlib.Path) -> str | None:
    """Renders one result; returns a message when rendering is unavailable (then no further renders are tried)."""
    from genmimic_jax.viz import render

    try:
        render.render(result.motion.qpos, result.motion.fps, path, result.targets)
    except render.RenderUnavailable as error:
        return f"render skipped: {error}"
    return None


if __name__ == "__main__":
    cli.run(main)
