"""Speed of the two evaluation back ends, measured side by side in one run.

    python -m benchmarks.eval_backends [--clips=8] [--seconds=2.0] [--threads=2] [--skip_mjx]

For N clips of the synthetic motion (random policy of the default (512, 256, 128) shape, 'actor' observation):
  - end-to-end evaluation throughput (robot control steps per second, compile excluded, best of --repeats) and
    compile/first-call time of the C MuJoCo back end and the MJX back end;
  - physics alone on C MuJoCo: the back end's per-robot `mj_step` thread pool against `mujoco.rollout` (open loop,
    same controls), in physics steps per second.
"""

import time

import jax
import mujoco
import numpy as np
from absl import app, flags
from mujoco import rollout as mj_rollout

from configs import tracking as tracking_config
from genmimic_jax.envs.synthetic_motion import synthetic_motion
from genmimic_jax.eval import evaluate
from genmimic_jax.eval.rollout import Evaluator, MujocoBatch
from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model

_CLIPS = flags.DEFINE_integer("clips", 8, "Clips (robots) evaluated at once.")
_SECONDS = flags.DEFINE_float("seconds", 2.0, "Length of each clip.")
_THREADS = flags.DEFINE_integer("threads", 2, "C MuJoCo threads.")
_REPEATS = flags.DEFINE_integer("repeats", 2, "Timed repeats after the first call (best is reported).")
_SKIP_MJX = flags.DEFINE_boolean("skip_mjx", False, "Leave out the MJX back end (its compile takes minutes on a CPU).")


def _random_policy(obs_size: int):
    from genmimic_jax.rl.networks import make_actor

    actor = make_actor((512, 256, 128), constants.NUM_JOINTS, "elu")
    params = actor.init(jax.random.PRNGKey(0), jax.numpy.zeros((1, obs_size)))["params"]
    return lambda obs: actor.apply({"params": params}, obs / 3.0)


def _time_backend(env, policy, backend: str, threads: int, repeats: int) -> dict:
    start = time.perf_counter()
    evaluator = Evaluator(env, policy, "actor", backend, threads)
    first = evaluator()
    first_s = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        evaluator()
        best = min(best, time.perf_counter() - start)
    steps = first.actions.shape[0] * first.actions.shape[1]
    return {"first_call_s": first_s, "steps_per_s": steps / best, "run_s": best, "control_steps": steps}


def _physics_only(num: int, control_steps: int, substeps: int, threads: int) -> dict:
    model = g1_model.load_model(scene=True)
    rng = np.random.default_rng(0)
    ctrl = constants.DEFAULT_POSE + 0.1 * rng.normal(size=(control_steps, num, constants.NUM_JOINTS))
    qpos = np.tile(g1_model.default_qpos(), (num, 1))
    batch = MujocoBatch(num, substeps, threads, model)
    batch.reset(qpos, np.zeros((num, model.nv)), ctrl[0])
    start = time.perf_counter()
    for step_ctrl in ctrl:
        batch.step(step_ctrl)
    batch_s = time.perf_counter() - start
    batch.close()

    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    data = mujoco.MjData(model)
    data.qpos[:] = qpos[0]
    state = np.zeros(mujoco.mj_stateSize(model, spec))
    mujoco.mj_getState(model, data, state, spec)
    initial = np.tile(state, (num, 1))
    datas = [mujoco.MjData(model) for _ in range(threads)]
    control = np.repeat(np.swapaxes(ctrl, 0, 1), substeps, axis=1)  # [N, steps * substeps, nu]
    with mj_rollout.Rollout(nthread=threads) as pool:
        start = time.perf_counter()
        pool.rollout(model, datas, initial, control)
        rollout_s = time.perf_counter() - start
    physics_steps = num * control_steps * substeps
    return {"mj_step_pool_physics_steps_per_s": physics_steps / batch_s,
            "mujoco_rollout_physics_steps_per_s": physics_steps / rollout_s,
            "note": "the mj_step pool also reads back the physical state (keypoints, contact forces) every step"}


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
    control_steps = int(round(_SECONDS.value / env_config.ctrl_dt))
    physics = _physics_only(_CLIPS.value, control_steps, env_config.substeps, _THREADS.value)
    print(f"physics only (C MuJoCo, {_CLIPS.value} robots): mj_step pool {physics['mj_step_pool_physics_steps_per_s']:.0f}"
          f" steps/s with state read-back, mujoco.rollout {physics['mujoco_rollout_physics_steps_per_s']:.0f} steps/s "
          "open loop")


if __name__ == "__main__":
    app.run(main)
