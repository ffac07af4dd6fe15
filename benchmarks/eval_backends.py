"""Speed of the two evaluation back ends, measured side by side in one run.

    python -m benchmarks.eval_backends [--clips=8] [--seconds=2.0] [--threads=2] [--skip_mjx]

For N clips of the synthetic motion (random policy of the default (512, 256, 128) shape, 'actor' observation):
  - end-to-end evaluation throughput (robot control steps per second, compile excluded, best of --repeats) and
    compile/first-call time of the C MuJoCo back end and the MJX back end (the physics alone, against bare
    `mujoco.rollout`, is `benchmarks.physics_backends`).
"""

import time

import jax
import numpy as np
from absl import app, flags

from genmimic_jax.envs import tracking as tracking_config
from genmimic_jax.envs.synthetic_motion import synthetic_motion
from genmimic_jax.eval import evaluate
from genmimic_jax.eval.rollout import Evaluator
from genmimic_jax.rl.networks import make_actor
from genmimic_jax.rl.policy import Policy
from genmimic_jax.robot.g1 import constants

_CLIPS = flags.DEFINE_integer("clips", 8, "Clips (robots) evaluated at once.")
_SECONDS = flags.DEFINE_float("seconds", 2.0, "Length of each clip.")
_THREADS = flags.DEFINE_integer("threads", 2, "C MuJoCo threads.")
_REPEATS = flags.DEFINE_integer("repeats", 2, "Timed repeats after the first call (best is reported).")
_SKIP_MJX = flags.DEFINE_boolean("skip_mjx", False, "Leave out the MJX back end (its compile takes minutes on a CPU).")


def _random_policy(obs_size: int) -> Policy:
    hidden = (512, 256, 128)
    actor = make_actor(hidden, constants.NUM_JOINTS, "elu")
    params = actor.init(jax.random.PRNGKey(0), jax.numpy.zeros((1, obs_size)))["params"]
    return Policy(actor_params=params, obs_mean=np.zeros(obs_size, np.float32), obs_std=np.full(obs_size, 3.0, np.float32),
                  obs_key="actor", obs_clip=1e6, hidden_sizes=hidden, activation="elu")


def _time_backend(env, policy, backend: str, threads: int, repeats: int) -> dict:
    start = time.perf_counter()
    evaluator = Evaluator(env, policy, backend, threads)
    first = evaluator()
    first_s = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        evaluator()
        best = min(best, time.perf_counter() - start)
    steps = first.actions.shape[0] * first.actions.shape[1]
    return {"first_call_s": first_s, "steps_per_s": steps / best, "run_s": best, "control_steps": steps}


def main(argv):
    del argv
    env_config = tracking_config.default_config()
    clips = [synthetic_motion(duration=_SECONDS.value, scale=0.5 + 0.5 * i / max(1, _CLIPS.value - 1))
             for i in range(_CLIPS.value)]
    env = evaluate.make_env(env_config, clips)
    policy = _random_policy(env.observation_size["actor"])
    print(f"{_CLIPS.value} clips x {_SECONDS.value:g} s at {1 / env_config.ctrl_dt:g} Hz, {env_config.substeps} "
          f"substeps, {_THREADS.value} threads, devices {jax.devices()}")
    results = {"mujoco": _time_backend(env, policy, "mujoco", _THREADS.value, _REPEATS.value)}
    if not _SKIP_MJX.value:
        results["mjx"] = _time_backend(env, policy, "mjx", _THREADS.value, _REPEATS.value)
    for backend, result in results.items():
        print(f"{backend:>7}: {result['steps_per_s']:9.0f} control steps/s (robots x steps, policy and "
              f"observations included), first call incl. compile {result['first_call_s']:.1f} s")
    if "mjx" in results:
        print(f"C MuJoCo / MJX throughput ratio: {results['mujoco']['steps_per_s'] / results['mjx']['steps_per_s']:.2f}")


if __name__ == "__main__":
    app.run(main)
