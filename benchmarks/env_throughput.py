"""Tracking-environment throughput against bare MJX physics, side by side, and reset/step compile times.

For each batch size it compiles the environment's reset and step (timed), then times control steps/s of
`env.step` and of `jit(vmap(substeps x mjx.step))` on the same nominal G1 model, batch and substeps (alternating calls of the two,
medians), and reports the environment's overhead over the physics. Figures depend on the machine; run it where you report them.

  python -m benchmarks.env_throughput --batch_sizes=1,64,256,1024 --seconds=20
"""

import json
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags
from mujoco import mjx

from genmimic_jax.envs import tracking as tracking_config
from genmimic_jax.envs import synthetic_motion
from genmimic_jax.envs.motion_lib import MotionLib
from genmimic_jax.envs.tracking import TrackingEnv

_BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["1", "64", "256", "1024"], "Environment batch sizes.")
_SECONDS = flags.DEFINE_float("seconds", 10.0, "Timing budget per batch size and contender (after a warm-up).")
_MAX_STEPS = flags.DEFINE_integer("max_steps", 200, "Cap on timed calls (control steps) per batch size and contender.")
_RANDOMIZATION = flags.DEFINE_bool("randomization", True, "Domain randomisation and pushes on in the env.")
_OUTPUT = flags.DEFINE_string("output", "", "Optional JSON file for the figures.")


def _time_side_by_side(env_fn, env_state, physics_fn, physics_state, seconds: float,
                       max_calls: int) -> tuple[float, float, int]:
    """Median seconds per call of `env_fn` and `physics_fn`, timed in alternating rounds.

    Alternating the two contenders exposes both to the same load of a shared machine; the medians drop rounds
    disturbed by other processes.
    """
    env_state = jax.block_until_ready(env_fn(env_state))  # warm-up
    physics_state = jax.block_until_ready(physics_fn(physics_state))
    env_times, physics_times = [], []
    start = time.perf_counter()
    while len(env_times) < max_calls and (len(env_times) < 3 or time.perf_counter() - start < 2 * seconds):
        tic = time.perf_counter()
        env_state = jax.block_until_ready(env_fn(env_state))
        env_times.append(time.perf_counter() - tic)
        tic = time.perf_counter()
        physics_state = jax.block_until_ready(physics_fn(physics_state))
        physics_times.append(time.perf_counter() - tic)
    return float(np.median(env_times)), float(np.median(physics_times)), len(env_times)


def _compile(fn, *args) -> tuple[float, float, object]:
    """Wall and CPU (this process) seconds to trace and compile `fn`, and the compiled function."""
    wall, cpu = time.perf_counter(), time.process_time()
    compiled = jax.jit(fn).lower(*args).compile()
    return time.perf_counter() - wall, time.process_time() - cpu, compiled


def main(_):
    lib = MotionLib.from_clips([synthetic_motion.synthetic_motion(duration=10.0)])
    rows = []
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, jax {jax.__version__}, "
          f"devices {jax.devices()}")
    for batch in (int(b) for b in _BATCH_SIZES.value):
        config = tracking_config.default_config()
        config.num_envs = batch
        config.randomization.enabled = _RANDOMIZATION.value
        config.push.enabled = _RANDOMIZATION.value
        env = TrackingEnv(config, lib)
        key = jax.random.PRNGKey(0)
        reset_compile, reset_cpu, reset = _compile(env.reset, key)
        state = reset(key)
        action = jnp.zeros((batch, env.action_size))
        step_compile, step_cpu, step = _compile(env.step, state, action)
        model, substeps = env.model, config.substeps

        def physics(data):
            return jax.lax.fori_loop(0, substeps, lambda _, d: mjx.step(model, d), data)

        physics_compile, physics_cpu, physics_step = _compile(jax.vmap(physics), state.pipeline_state)
        env_dt, phys_dt, calls = _time_side_by_side(lambda s: step(s, action), state, physics_step,
                                                    state.pipeline_state, _SECONDS.value, _MAX_STEPS.value)
        row = {
            "batch": batch, "env_steps_per_s": batch / env_dt, "physics_steps_per_s": batch / phys_dt,
            "overhead": env_dt / phys_dt - 1.0, "timed_calls_each": calls,
            "compile_reset_s": reset_compile, "compile_step_s": step_compile, "compile_physics_s": physics_compile,
            "compile_reset_cpu_s": reset_cpu, "compile_step_cpu_s": step_cpu, "compile_physics_cpu_s": physics_cpu,
        }
        rows.append(row)
        print(f"batch {batch:5d}: env {row['env_steps_per_s']:10.1f} ctrl steps/s | bare mjx.step x{substeps} "
              f"{row['physics_steps_per_s']:10.1f} | env overhead {100 * row['overhead']:+6.1f}% | compile wall (cpu) "
              f"reset {reset_compile:.1f} ({reset_cpu:.1f}) s, step {step_compile:.1f} ({step_cpu:.1f}) s, bare "
              f"physics {physics_compile:.1f} ({physics_cpu:.1f}) s",
              flush=True)
    if _OUTPUT.value:
        with open(_OUTPUT.value, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    app.run(main)
