"""What the reference action offset buys before any learning: the zero policy played back on each clip.

With `env.action_offset='default_pose'` action 0 pulls the robot to standing; with 'reference' it sets the servo
targets to the clip's joints (open-loop playback). For every clip of a folder of retargeted motions, both are rolled
out on C MuJoCo from the clip's first frame (nominal robot, no pushes) and scored as `experiments.evaluate` scores a
policy: the frames followed before a failure and the mean keypoint error up to then.

    python -m benchmarks.action_offset_playback --motion_dir=retargeted/
"""

import numpy as np
from absl import app, flags

from genmimic_jax.envs import tracking
from genmimic_jax.envs.tracking import ACTION_OFFSETS
from genmimic_jax.eval import evaluate
from genmimic_jax.eval.rollout import Evaluator
from genmimic_jax.retarget.io import load_robot_motions
from genmimic_jax.rl.policy import Policy
from genmimic_jax.robot.g1 import constants

_MOTION_DIR = flags.DEFINE_string("motion_dir", None, "folder of retargeted .npz clips", required=True)


def _zero_policy(obs_size: int) -> Policy:
    """Action 0 on every step: the servo targets are the action offset itself."""
    params = {"Dense_0": {"kernel": np.zeros((obs_size, constants.NUM_JOINTS), np.float32),
                          "bias": np.zeros(constants.NUM_JOINTS, np.float32)}}
    return Policy(actor_params=params, obs_mean=np.zeros(obs_size, np.float32), obs_std=np.ones(obs_size, np.float32),
                  obs_key="actor", obs_clip=10.0, hidden_sizes=(), activation="elu")


def main(argv):
    del argv
    clips, names = load_robot_motions(_MOTION_DIR.value)
    rows = {}
    for offset in ACTION_OFFSETS:
        config = tracking.default_config()
        config.action_offset = offset
        env = evaluate.make_env(config, clips)
        run = Evaluator(env, _zero_policy(env.observation_size["actor"]), "mujoco")()
        scored = evaluate.score(run, env.motion_lib, names, success_threshold=0.2)
        rows[offset] = scored
    lengths = dict(zip(names, np.asarray(env.motion_lib.lengths)))
    print(f"{'clip':40s} {'frames':>7s} " + " ".join(f"{offset:>14s} {'MPJPE mm':>9s}" for offset in ACTION_OFFSETS))
    for name in names:
        cells = [f"{int(rows[offset][name]['frames']):>14d} {rows[offset][name]['mpjpe_mm']:9.1f}"
                 for offset in ACTION_OFFSETS]
        print(f"{name:40s} {int(lengths[name]):>7d} " + " ".join(cells))
    for offset in ACTION_OFFSETS:
        frames = np.array([rows[offset][name]["frames"] for name in names])
        print(f"{offset}: mean {frames.mean():.1f} control frames followed before a failure (median "
              f"{np.median(frames):.0f})")


if __name__ == "__main__":
    app.run(main)
