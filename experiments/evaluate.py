"""Evaluates a trained policy on a set of retargeted motions (and, optionally, under the noise suite).

    python -m experiments.evaluate --config.checkpoint=runs/student --config.motion_dir=retargeted/ \
        [--config.backend=mjx] [--config.noise_suite=True] [--config.render=True] [--config.output_dir=out/]

Prints the per-clip table and writes report.json, report.txt, rollouts/<clip>.npz (simulated qpos), plots/ and,
with --config.render, videos/<clip>.gif (robot with the goal keypoints as spheres) into the output folder.
"""

import pathlib
import sys

from absl import app
from ml_collections import config_flags

import configs.evaluate

_CONFIG = config_flags.DEFINE_config_file("config", configs.evaluate.__file__, "Evaluation options.")


def render_videos(report, output_dir: pathlib.Path, max_clips: int, video_format: str) -> list[str]:
    """Videos of the first clips' rollouts (goal keypoints as spheres); returns lines to print."""
    import numpy as np

    from genmimic_jax.viz import render

    lib = report.motion_lib
    goals = np.asarray(lib.goal_keypoints)
    lines = []
    (output_dir / "videos").mkdir(parents=True, exist_ok=True)
    for n, name in enumerate(report.clip_names[:max_clips]):
        end = int(report.rollout.last_frame()[n]) + 1
        path = output_dir / "videos" / f"{name}.{video_format}"
        try:
            render.render(report.rollout.qpos[n, :end], lib.fps, path, goals[n, :end])
        except render.RenderUnavailable as error:
            return lines + [f"video skipped: {error}"]
        lines.append(f"wrote {path}")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    config = _CONFIG.value
    if config.render:
        from genmimic_jax.viz import gl  # before anything imports mujoco

        gl.select_gl_backend()
    from genmimic_jax.eval import evaluate
    from genmimic_jax.eval.policy import PolicyLoadError, load_policy
    from genmimic_jax.envs.motion_lib import MotionLibError
    from genmimic_jax.retarget.io import load_robot_motions

    if not config.checkpoint or not config.motion_dir:
        print("error: --config.checkpoint (a run directory) and --config.motion_dir are required", file=sys.stderr)
        return 2
    output_dir = pathlib.Path(config.output_dir)
    try:
        policy = load_policy(config.checkpoint, config.policy, None if config.step < 0 else config.step)
        clips, names = load_robot_motions(config.motion_dir, config.max_clips)
        levels = evaluate.noise_levels_from_config(config.noise_suite, config.noise_corruptions)
        print(f"evaluating the {policy.kind} policy of {policy.run_dir} (step {policy.step}) on {len(clips)} clip(s) "
              f"with the {config.backend} back end" + (f", noise suite of {len(levels)} levels" if levels else ""))
        report = evaluate.evaluate(policy, clips, names, config.backend, config.success_threshold, levels,
                                   config.noise_seed, config.threads)
    except (PolicyLoadError, MotionLibError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    paths = evaluate.write_report(report, output_dir)
    print(evaluate.format_report(report))
    if config.render:
        for line in render_videos(report, output_dir, config.render_clips, config.render_format):
            print(line)
    print(f"wrote {paths['json']}, {paths['text']}, {len(report.clip_names)} rollout(s) in {output_dir / 'rollouts'}")
    return 0


if __name__ == "__main__":
    app.run(main)
