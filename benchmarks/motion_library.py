"""What a folder of retargeted clips costs the tracking env: frames, memory of the motion library, adaptive-sampling
bins and the failure table in the env state, against the layout that padded every clip to the longest one.

Reads the folder as `experiments.train` does (every `.npz` below it) and packs it at the control rate.

    python -m benchmarks.motion_library --motion_dir=retargeted/ [--num_envs=256]
"""

import time

import jax
from absl import app, flags

from genmimic_jax.envs import tracking
from genmimic_jax.envs.motion_lib import MotionLib
from genmimic_jax.retarget.io import load_robot_motions

_MOTION_DIR = flags.DEFINE_string("motion_dir", None, "A folder of retargeted clips (nested folders included).",
                                  required=True)
_NUM_ENVS = flags.DEFINE_integer("num_envs", 256, "Environments holding the failure table.")


def main(argv: list[str]) -> None:
    del argv
    config = tracking.default_config()
    start = time.perf_counter()
    clips, _ = load_robot_motions(_MOTION_DIR.value)
    loaded = time.perf_counter()
    lib = MotionLib.from_clips(clips, fps=1.0 / config.ctrl_dt, bin_seconds=config.motion.bin_seconds)
    built = time.perf_counter()
    num_frames = lib.frames.qpos.shape[0]
    per_frame = sum(x.nbytes for x in jax.tree.leaves((lib.frames, lib.goal_keypoints))) / num_frames
    padded_frames = lib.num_clips * lib.max_length
    padded_bins = lib.num_clips * -(-lib.max_length // lib.bin_frames)
    mib = 2.0**20
    print(f"{lib.num_clips} clips, {num_frames} frames at {lib.fps:g} Hz (longest {lib.max_length}), "
          f"{per_frame:.0f} bytes per frame; read in {loaded - start:.1f} s, packed in {built - loaded:.1f} s")
    print(f"motion library: {num_frames * per_frame / mib:.1f} MiB packed, {padded_frames * per_frame / mib:.1f} MiB "
          f"padded to the longest clip")
    print(f"failure table: {lib.num_bins} bins ({lib.num_bins * 4 / 1024:.1f} KiB in the state, one table whatever the env count); "
          f"padded and held per env: {padded_bins} bins, {_NUM_ENVS.value * padded_bins * 4 / mib:.1f} MiB at "
          f"{_NUM_ENVS.value} envs")


if __name__ == "__main__":
    app.run(main)
