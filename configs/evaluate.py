"""Evaluation of a trained policy on a motion set, optionally under the generated-video noise suite.

    python -m experiments.evaluate --config.checkpoint=runs/student --config.motion_dir=motions/retargeted
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.checkpoint = ""  # run directory of experiments.train (teacher) or experiments.distill (student)
    config.policy = "auto"  # 'auto' | 'teacher' | 'student'
    config.step = -1  # checkpoint step; negative: the latest
    config.motion_dir = ""  # folder of retargeted .npz clips (a single .npz file also works)
    config.output_dir = "outputs/evaluate"
    config.backend = "mujoco"  # 'mujoco' (C MuJoCo, multi-threaded, CPU) | 'mjx' (batched, jitted)
    config.threads = 2  # C MuJoCo back end: rollout threads
    config.success_threshold = 0.2  # m: largest mean keypoint error of a successful clip
    config.max_clips = -1  # > 0: only the first clips (sorted by name)
    # Memory: clips are rolled out in groups of similar length, at most this many robots x control frames at once
    # (~4 KB each; each group compiles its rollout once). A GPU takes larger groups.
    config.max_robot_frames = 131_072
    config.noise_suite = False  # also evaluate under every corruption level of genmimic_jax.eval.noise
    config.noise_seed = 0
    # The suite runs with noise seeds noise_seed .. noise_seed + noise_seeds - 1; the report gives each seed's results
    # and their spread (a success rate under random artefacts is a sample: report it over several seeds).
    config.noise_seeds = 1
    config.noise_corruptions = ""  # comma-separated subset of the suite's corruptions; empty: all
    # Also log the overall figures as TensorBoard scalars eval/<figure> at the checkpoint's step in
    # <checkpoint>/logs/evaluation, so that experiments.plot_logs draws success against the training steps.
    config.log_to_run = False
    config.render = False  # write an MP4 per clip (robot and goal keypoints)
    config.render_clips = 3  # at most this many clips rendered
    config.render_format = "mp4"  # 'mp4' | 'gif'
    return config
