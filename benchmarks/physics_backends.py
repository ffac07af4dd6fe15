"""Control steps/s of the tracking env's physics back ends, side by side in one process.

For one batch of G1s on the built-in clip (randomisation on, pushes off), each timed as a jitted `lax.scan` of
`steps` control steps after a warm-up call:

- `rollout`: bare `mujoco.rollout` of the same servo targets with a persistent thread pool (the limit);
- `<backend> physics`: the back end's batched step alone (no observations, rewards or resets);
- `<backend> env`: `TrackingEnv.step` (physics, observations, rewards, terminations, restarts).

    python -m benchmarks.physics_backends --num_envs=256 --backends=mujoco,mjx
"""

import time

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from absl import app, flags
from mujoco import rollout as mj_rollout

from genmimic_jax.envs import physics_backends, randomization, tracking
from genmimic_jax.envs.motion_lib import MotionLib
from genmimic_jax.envs.synthetic_motion import synthetic_motion
from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model

_NUM_ENVS = flags.DEFINE_integer("num_envs", 256, "batch of robots")
_STEPS = flags.DEFINE_integer("steps", 50, "control steps per timed call")
_REPEATS = flags.DEFINE_integer("repeats", 3, "timed calls (best is reported)")
_THREADS = flags.DEFINE_integer("threads", 0, "C MuJoCo threads (0: every core)")
_BACKENDS = flags.DEFINE_list("backends", ["mujoco", "mjx"], "back ends to time")


def _best(fn, args) -> tuple[float, float]:
    """(first call incl. compile s, best of the timed calls s)."""
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(_REPEATS.value):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return first, best


def _bare_rollout(mj_model: mujoco.MjModel, ctrl: np.ndarray, substeps: int, threads: int) -> float:
    """Seconds of `mujoco.rollout` over the servo targets ctrl [steps, N, 29] (best of the repeats)."""
    num = ctrl.shape[1]
    data = mujoco.MjData(mj_model)
    data.qpos[:] = g1_model.default_qpos()
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    state = np.zeros(mujoco.mj_stateSize(mj_model, spec))
    mujoco.mj_getState(mj_model, data, state, spec)
    initial = np.tile(state, (num, 1))
    control = np.repeat(np.swapaxes(ctrl, 0, 1), substeps, axis=1)  # [N, steps * substeps, 29]
    datas = [mujoco.MjData(mj_model) for _ in range(threads)]
    best = float("inf")
    with mj_rollout.Rollout(nthread=threads) as pool:
        for _ in range(_REPEATS.value + 1):
            start = time.perf_counter()
            pool.rollout(mj_model, datas, initial, control)
            best = min(best, time.perf_counter() - start)
    return best


def _physics_only(backend, nominal: randomization.Nominal, params, qpos: jax.Array, ctrl: jax.Array):
    @jax.jit
    def run(qpos, ctrl):
        fields = jax.vmap(randomization.model_fields, in_axes=(None, 0))(nominal, params)
        state = jax.vmap(backend.init)(qpos, jnp.zeros((qpos.shape[0], constants.QVEL_SIZE)), qpos[:, 7:])
        return jax.lax.scan(lambda s, c: (backend.step(s, c, fields)[0], None), state, ctrl)[0].qpos

    return run, (qpos, ctrl)


def _env_steps(env: tracking.TrackingEnv, steps: int):
    @jax.jit
    def run(state):
        return jax.lax.scan(lambda s, _: (env.step(s, jnp.zeros((env.num_envs, env.action_size))), None), state,
                            None, length=steps)[0]

    return run, (jax.jit(env.reset)(jax.random.PRNGKey(0)),)


def main(argv):
    del argv
    num, steps = _NUM_ENVS.value, _STEPS.value
    threads = physics_backends.resolve_threads(_THREADS.value)
    mj_model = g1_model.load_model()
    config = tracking.default_config()
    config.num_envs, config.push.enabled, config.physics_threads = num, False, threads
    rng = np.random.default_rng(0)
    ctrl = (constants.DEFAULT_POSE + 0.3 * constants.ACTION_SCALE * rng.normal(size=(steps, num, 29))).astype(np.float32)
    qpos = jnp.tile(jnp.asarray(g1_model.default_qpos(), jnp.float32), (num, 1))
    nominal = randomization.Nominal.from_model(mj_model)
    params = jax.vmap(lambda k: randomization.sample_params(k, nominal, config))(
        jax.random.split(jax.random.PRNGKey(1), num))
    lib = MotionLib.from_clips([synthetic_motion()])
    control_steps = steps * num
    print(f"{num} G1s x {steps} control steps ({config.substeps} substeps), {threads} C MuJoCo threads, "
          f"JAX on {jax.devices()[0].device_kind}")
    rows = {"rollout (bare mujoco.rollout, the limit)": (0.0, _bare_rollout(mj_model, ctrl, config.substeps, threads))}
    for name in _BACKENDS.value:
        config.physics = name
        backend = physics_backends.make(name, g1_model.load_spec(), config.substeps, threads)
        rows[f"{name} physics"] = _best(*_physics_only(backend, nominal, params, qpos, jnp.asarray(ctrl)))
        rows[f"{name} env"] = _best(*_env_steps(tracking.TrackingEnv(config, lib), steps))
    limit = control_steps / rows["rollout (bare mujoco.rollout, the limit)"][1]
    for name, (first, best) in rows.items():
        rate = control_steps / best
        print(f"{name:42s} {rate:9,.0f} control steps/s  ({limit / rate:5.2f}x the limit's time; first call "
              f"{first:6.1f} s)")


if __name__ == "__main__":
    app.run(main)
