"""Evaluates a trained policy on a set of retargeted motions (and, optionally, under the noise suite).

    python -m experiments.evaluate --config.checkpoint=runs/student --config.motion_dir=retargeted/ \
        [--config.backend=mjx] [--config.noise_suite=True] [--config.render=True] [--config.output_dir=out/]

Prints the per-clip table and writes report.json, report.txt, rollouts/<clip>.npz (simulated qpos), plots/ and,
with --config.render, videos/<clip>.mp4 (the G1, the reference as a ghost, goal keypoints) into the folder. Outputs are
checked before the evaluation: they never replace an input, nor an existing file of another kind unless --overwrite.
Exit status as in experiments.cli.
"""

import pathlib

from absl import app

import configs.evaluate
from experiments import cli
from genmimic_jax.errors import InputError

_CONFIG = cli.define_config(configs.evaluate.__file__, "Evaluation options.")
_OVERWRITE = cli.define_overwrite()
BACKENDS = ("mujoco", "mjx")


def render_videos(group, output_dir: pathlib.Path, names: set[str], video_format: str) -> list[str]:
    """Videos of the rollouts of `group`'s clips among `names` over their whole clip (reference ghost, goal keypoints
    as spheres, a fall marked); returns lines to print. Where no renderer is available it empties `names`, so later
    groups do not try again."""
    from genmimic_jax.eval import evaluate
    from genmimic_jax.viz import render

    lib, rollout = group.motion_lib, group.rollout
    lines = []
    for n, name in enumerate(group.clip_names):
        if name not in names:
            continue
        end = int(rollout.last_frame()[n]) + 1
        failed_at = int(rollout.failed_at[n])
        path = output_dir / "videos" / f"{evaluate.safe_name(name)}.{video_format}"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            render.render(rollout.qpos[n, :end], lib.fps, path, lib.clip_goals(n),
                          reference_qpos=lib.clip_frames(n).qpos, failed_at=failed_at if failed_at >= 0 else None)
        except render.RenderUnavailable as error:
            names.clear()
            return lines + [f"video skipped: {error}"]
        lines.append(f"wrote {path}")
    return lines


def check_config(config) -> None:
    """Refuses missing or out-of-range options before anything is loaded."""
    if not config.checkpoint or not config.motion_dir:
        raise app.UsageError("--config.checkpoint (a run directory) and --config.motion_dir are required")
    if config.backend not in BACKENDS:
        raise InputError(f"--config.backend: must be one of {', '.join(BACKENDS)}, got {config.backend!r}")
    if config.threads < 1:
        raise InputError(f"--config.threads: must be at least 1, got {config.threads}")
    if config.max_robot_frames < 1:
        raise InputError(f"--config.max_robot_frames: must be at least 1, got {config.max_robot_frames}")
    if config.noise_seeds < 1:
        raise InputError(f"--config.noise_seeds: must be at least 1, got {config.noise_seeds}")
    if not config.success_threshold > 0:
        raise InputError(f"--config.success_threshold: must be a positive distance (m), got {config.success_threshold}")


def run(config, overwrite: bool = False) -> int:
    """Evaluates as `config` (configs/evaluate.py) says; returns the exit status."""
    check_config(config)
    if config.render:
        from genmimic_jax.viz import gl  # before anything imports mujoco

        gl.select_gl_backend()
    from experiments.export import require_g1_policy
    from genmimic_jax import files
    from genmimic_jax.eval import evaluate
    from genmimic_jax.rl.policy import load_policy
    from genmimic_jax.retarget.io import load_robot_motions

    output_dir = pathlib.Path(config.output_dir)
    saved = load_policy(config.checkpoint, config.policy, None if config.step < 0 else config.step)
    require_g1_policy(saved)
    clips, names = load_robot_motions(config.motion_dir, config.max_clips)
    inputs = [clip.path for clip in clips] + [saved.run_dir / "config.json"]
    for path, kind in evaluate.report_paths(output_dir, names).values():
        files.check_output(path, kind, inputs=inputs, overwrite=overwrite)
    levels = evaluate.noise_levels_from_config(config.noise_suite, config.noise_corruptions)
    seeds = evaluate.noise_seeds_from_config(config.noise_seed, config.noise_seeds)
    suite = f", noise suite of {len(levels)} levels x {len(seeds)} noise seed(s)" if levels else ""
    print(f"evaluating the {saved.kind} policy of {saved.run_dir} (step {saved.step}) on {len(clips)} clip(s) "
          f"with the {config.backend} back end{suite}")
    to_render = set(names[:config.render_clips]) if config.render else set()
    done = []

    def on_group(group) -> None:
        evaluate.write_rollouts(group, output_dir, overwrite)
        for line in render_videos(group, output_dir, to_render, config.render_format):
            print(line)
        done.extend(group.clip_names)
        if len(done) < len(names):
            print(f"{len(done)}/{len(names)} clips evaluated", flush=True)

    report = evaluate.evaluate(saved, clips, names, config.backend, config.success_threshold, levels,
                               seeds, config.threads, config.max_robot_frames, on_group)
    paths = evaluate.write_report(report, output_dir, overwrite)
    print(evaluate.format_report(report))
    print(f"wrote {paths['json']}, {paths['text']}, {len(report.clip_names)} rollout(s) in {output_dir / 'rollouts'}")
    if config.log_to_run:
        print(f"logged eval/* at step {saved.step} to {log_to_run(report.overall, saved.run_dir, saved.step)}")
    return cli.EXIT_OK


def log_to_run(overall: dict, run_dir: pathlib.Path, step: int) -> pathlib.Path:
    """Writes the overall figures as TensorBoard scalars eval/<figure> at `step` into <run_dir>/logs/evaluation."""
    import tensorboardX

    logdir = run_dir / "logs" / "evaluation"
    with tensorboardX.SummaryWriter(str(logdir)) as writer:
        for name, value in overall.items():
            writer.add_scalar(f"eval/{name}", float(value), step)
    return logdir


def main(argv: list[str]) -> int:
    cli.no_arguments(argv)
    return run(_CONFIG.value, _OVERWRITE.value)


if __name__ == "__main__":
    cli.run(main)
