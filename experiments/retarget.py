"""Retargets human motion files to the G1.

    python -m experiments.retarget --input=walk.bvh --output=walk.npz [--render]
    python -m experiments.retarget --input=motions/ --output=retargeted/ [--overwrite] [--config.batch_frames=8192]
    python -m experiments.retarget --input=clips.txt --output=retargeted/

A folder in (searched recursively; sub-folders such as AMASS's subjects are kept) or a list file (`.txt`, one motion
path per line, relative to the list's folder) gives one `.npz` per motion file under the output folder, at the source
frame rate, and one report for the set: `report.json` (a summary of every column: frame-weighted mean, max and the
worst clips; then every clip's report) and `report.txt` (the same as a table; the summary is also printed). One file
in gives one `.npz` and `<output>.report.json`. Clips are streamed: the next batch is read while the current one is
solved, outputs are written as they finish, and a progress line with frames/s is printed every few seconds. A re-run
skips clips whose output already holds a valid retargeted motion with its report (`--overwrite` redoes them). With
`--render`, an MP4 of the G1 with the human skeleton beside it and the scaled human keypoints as green spheres is
written next to each output (skipped with a message when no OpenGL backend is available). Unreadable inputs are
reported in one line each and skipped; the exit status is 1 when any input failed (see experiments.cli). Outputs
never replace an input, nor an existing file that is not a robot motion unless --overwrite; they are all checked
before the first solve.
"""

from __future__ import annotations

import pathlib
import sys

from absl import app, flags

import configs.retarget
from experiments import cli
from genmimic_jax import files
from genmimic_jax.errors import InputError, OutputError

_INPUT = cli.define_string("input", "A motion file, a folder of them (searched recursively) or a list file (.txt).")
_OUTPUT = cli.define_string("output", "The .npz file (for a file in) or the folder (for a folder or list) to write.")
_OVERWRITE = cli.define_overwrite()
_RENDER = flags.DEFINE_boolean("render", False, "Also render an MP4 next to each output.")
_MODEL_DIR = flags.DEFINE_string("model_dir", None, "Folder of SMPL/SMPL-X model files, for SMPL parameter sources.")
_CONFIG = cli.define_config(configs.retarget.__file__, "Retargeting options.")


def main(argv: list[str]) -> int:
    cli.no_arguments(argv)
    if not _INPUT.value or not _OUTPUT.value:
        raise app.UsageError("--input and --output are required")
    if _RENDER.value:
        from genmimic_jax.viz import gl  # Before anything imports mujoco.

        gl.select_gl_backend()
    return run(_INPUT.value, _OUTPUT.value, _CONFIG.value, render=_RENDER.value, model_dir=_MODEL_DIR.value,
               overwrite=_OVERWRITE.value)


def check_outputs(jobs: list, reports: dict[str, pathlib.Path], overwrite: bool) -> None:
    """Refuses, before any solve, outputs that would replace an input or a file of another kind (`reports`: the
    report files by kind)."""
    inputs = {_file_id(job.source): job.source for job in jobs}
    for path, kind in [(job.output, "robot_motion") for job in jobs] + [(p, k) for k, p in reports.items()]:
        source = inputs.get(_file_id(path))
        if source is not None:
            raise OutputError(f"{path}: the output would overwrite the input {source}")
        files.check_output(path, kind, overwrite=overwrite)


def _file_id(path: pathlib.Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino


def run(input_path: str, output_path: str, config, render: bool = False, model_dir: str | None = None,
        overwrite: bool = False) -> int:
    """Retargets a file, folder or list file (see the module docstring); returns the exit status."""
    from genmimic_jax.human.io import MOTION_SUFFIXES, load_motion
    from genmimic_jax.retarget import dataset, io, pipeline, report

    dataset.CompileCounter.start()
    source, output = pathlib.Path(input_path), pathlib.Path(output_path)
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    many = source.is_dir() or source.suffix.lower() in dataset.LIST_SUFFIXES
    if not many and output.suffix != ".npz":
        raise InputError(f"{output}: the output for one file must be a .npz path")
    if not many and not output.parent.is_dir():
        raise InputError(f"{output.parent}: no such folder")
    jobs = dataset.list_jobs(source, output, MOTION_SUFFIXES)
    if not jobs:
        raise InputError(f"{source}: no motion files ({', '.join(MOTION_SUFFIXES)})")
    report_paths = {"json": output / "report.json", "text": output / "report.txt"} if many else {
        "json": output.with_suffix(".report.json")}
    check_outputs(jobs, report_paths, overwrite)

    reports = report.ReportSet()
    todo = []
    for job in jobs:
        done = None if overwrite else dataset.finished_report(job.output)
        if done is None:
            todo.append(job)
        else:
            reports.add(job.name, done)
    progress = dataset.Progress(len(jobs))
    progress.update(skipped=len(jobs) - len(todo))
    retargeter = pipeline.Retargeter(config)
    render_note = None

    def load(job):
        return load_motion(job.source, model_dir=model_dir)

    def on_error(job, error):
        cli.print_error(error)
        progress.update(failed=1)

    def on_result(job, result):
        nonlocal render_note
        try:
            io.save_robot_motion(result.motion, job.output, result.report, inputs=[job.source], overwrite=overwrite)
        except InputError as error:
            on_error(job, error)
            return
        reports.add(job.name, result.report)
        progress.update(clips=1, frames=result.motion.num_frames)
        if render and render_note is None:
            render_note = _render(result, load(job), job.output.with_suffix(".mp4"))

    stream_note = ""
    if many and todo:
        seconds = dataset.retarget_stream(todo, retargeter, load, on_result, on_error, config.batch_frames)
        stream_note = (f"; solver: compile {seconds['compile']:.0f} s, solve {seconds['solve']:.0f} s, "
                       f"waiting for input {seconds['wait_for_input']:.0f} s")
    for job in [] if many else todo:
        try:
            human = load(job)
            result = retargeter([human])[0]
        except InputError as error:
            on_error(job, error)
        else:
            on_result(job, result)
    if render_note:
        print(render_note, file=sys.stderr)
    compilations, compile_seconds = dataset.CompileCounter.totals()
    print(f"{progress.line()}; {compilations} XLA compilations ({compile_seconds:.0f} s){stream_note}", file=sys.stderr)
    if not len(reports):
        return cli.EXIT_INPUT
    if many:
        summary = reports.summary()
        table = reports.table()
        files.write_atomic(report_paths["json"], lambda file: file.write(reports.to_json(summary).encode()), "json",
                           overwrite=overwrite)
        files.write_atomic(report_paths["text"], lambda file: file.write(table.encode() + b"\n"), "text",
                           overwrite=overwrite)
        print(reports.table(max_clips=20))
    else:
        clip_report = reports.report(jobs[0].name)
        files.write_json(report_paths["json"], clip_report, overwrite=overwrite)
        print(report.format_table({jobs[0].name: clip_report}))
    print(report.REFERENCE)
    print(f"wrote {len(reports)} motion report(s) to {report_paths['json']}")
    return cli.EXIT_INPUT if progress.failed else cli.EXIT_OK


def _render(result, human, path: pathlib.Path) -> str | None:
    """Renders one result (the human skeleton beside the robot, the scaled keypoints it tracked over it); returns a
    message when rendering is unavailable (then no further renders are tried)."""
    from genmimic_jax.viz import render

    skeleton = render.at_rate(render.human_skeleton(human), human.fps, result.motion.fps)
    try:
        render.render(result.motion.qpos, result.motion.fps, path, result.targets, skeleton=skeleton,
                      skeleton_beside=0.9)
    except (render.RenderUnavailable, InputError) as error:
        return f"render skipped: {error}"
    return None


if __name__ == "__main__":
    cli.run(main)
