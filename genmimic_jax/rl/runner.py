"""Runs an `Algorithm` as jitted chunks of updates with logging, checkpoints and exact resume.

A run directory holds `config.json`, `checkpoints/` and `logs/`. Running again in the same
directory continues from the latest checkpoint; with the same seed, the result equals an
uninterrupted run, because the chunks are the same jitted function over the saved state (a learner
whose schedule follows the clock, `Algorithm.add_train_seconds`, resumes with its clock but is not
reproducible update for update).
"""

import functools
import json
import pathlib
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import ml_collections
import numpy as np
from flax import serialization
from jax.experimental import multihost_utils

from genmimic_jax import files
from genmimic_jax.rl import distributed
from genmimic_jax.rl.algorithm import Algorithm, Metrics, scan_updates
from genmimic_jax.rl.checkpointing import CheckpointError, Checkpointer, abstract_with_shardings
from genmimic_jax.rl.metrics_log import Logger


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in _flatten(value, f"{prefix}{key}.").items()}
    return {prefix[:-1]: tree}


# Config keys a resumed run may change: the update count may grow, and how the processes are launched (process 0
# writes config.json with its own process_id, and every session gets its own coordinator; C MuJoCo's thread count
# does not change results); where a run started from matters no more once it has checkpoints of its own.
_RESUMABLE_CHANGES = frozenset({"ppo.num_updates", "dagger.num_updates", "run.max_minutes", "run.distributed",
                                "run.coordinator_address", "run.num_processes", "run.process_id",
                                "run.local_processes", "env.physics_threads", "run.init_from", "run.init_step",
                                "run.init_weights_only"})
# Keys of older configs that are gone, their effect recorded elsewhere: distillation's top-level `num_envs` (now
# `env.num_envs`, which a completed distillation config always held).
_RETIRED_KEYS = ("num_envs",)
# Keys added since runs were first stored, with the value that does what the code did before them: a stored config
# without such a key resumes when the current config holds that value.
_ADDED_KEYS = {"env.motion.clip_failure_share": 0.0, "env.motion.clip_duration_power": 0.0,
               "env.reward.weights.center_of_mass": 0.0, "env.reward.params.center_of_mass.sigma": 0.05,
               "env.noise.goal_bone_scale": 0.0, "env.noise.goal_wobble": 0.0, "dagger.lr_decay_updates": 0,
               "dagger.final_learning_rate": 5e-5, "run.init_weights_only": False, "dagger.lr_decay_budget_share": 0.0,
               "env.actor_base_lin_vel": False, "env.noise.base_lin_vel": 0.1,
               "env.noise.goal_drift_origin": "episode", "env.motion.first_frame_share": 0.0}
# What a run started from another run's weights only (`run.init_weights_only`) takes from it.
WEIGHT_FIELDS = ("params", "normalizer")


def check_resumable(run_dir: pathlib.Path, config: ml_collections.ConfigDict) -> None:
    """Raises when `run_dir` holds a run of a different config (only the update count and the launch may change)."""
    path = run_dir / "config.json"
    if not path.exists():
        return
    stored = _flatten(files.load_json(path))
    for key in _RETIRED_KEYS:
        stored.pop(key, None)
    current = _flatten(json.loads(json.dumps(config.to_dict())))
    for key, value in _ADDED_KEYS.items():
        if key in current:
            stored.setdefault(key, value)
    changed = sorted(key for key in stored.keys() | current.keys()
                     if stored.get(key) != current.get(key) and key not in _RESUMABLE_CHANGES)
    if changed:
        raise ValueError(f"{run_dir} holds a run with a different config ({', '.join(changed[:5])}); "
                         "pick another name or the same config to resume")


def _restore_from_run(source_dir: pathlib.Path, step: int, abstract_state: Any) -> Any:
    """The training state of another run's checkpoint (`step`; negative: its latest), read without touching it."""
    source = Checkpointer(source_dir / "checkpoints", read_only=True)
    try:
        return source.restore(abstract_state, None if step < 0 else step)
    finally:
        source.close()


def _with_weights_from_run(source_dir: pathlib.Path, step: int, state: Any) -> Any:
    """`state` with the network weights and observation normaliser (`WEIGHT_FIELDS`) of another run's checkpoint
    (`step`; negative: its latest), read without touching it; the rest (optimiser, update count, rollout and
    start statistics) stays `state`'s, so the source may have trained on another motion set."""
    source = Checkpointer(source_dir / "checkpoints", read_only=True)
    try:
        stored, _ = source.restore_raw(None if step < 0 else step, fields=WEIGHT_FIELDS)
    finally:
        source.close()
    fields = {}
    for name in WEIGHT_FIELDS:
        current = getattr(state, name)
        try:
            weights = serialization.from_state_dict(current, stored[name])
            shapes_match = jax.tree.map(lambda a, b: a.shape == b.shape, weights, current)
        except (KeyError, ValueError, TypeError) as error:
            raise CheckpointError(f"{source_dir}: its {name} do not fit this run ({' '.join(str(error).split())[:200]})"
                                  ) from None
        if not all(jax.tree.leaves(shapes_match)):
            raise CheckpointError(f"{source_dir}: its {name} have other shapes than this run's (another network or "
                                  "observation): start from a run of this run's networks")
        fields[name] = jax.tree.map(lambda new, old: jax.device_put(np.asarray(new, old.dtype), old.sharding),
                                    weights, current)
    return state.replace(**fields)


def _as_process_zero(value: Any) -> Any:
    """Process 0's `value` in every process (a host-side reading such as the clock, which must not differ)."""
    if jax.process_count() > 1:
        return multihost_utils.broadcast_one_to_all(np.asarray(value)).item()
    return value


def _budget_spent(started: float, max_minutes: float) -> bool:
    """Whether `max_minutes` (0: no budget) have passed since `started`; every process decides as process 0 does."""
    if max_minutes <= 0:
        return False
    return bool(_as_process_zero(time.perf_counter() - started >= 60.0 * max_minutes))


class Sharded(NamedTuple):
    """An algorithm's jitted functions laid out over a device mesh."""

    init: Callable[[jax.Array], Any]  # rng -> sharded training state
    chunk: Callable[[Any], tuple[Any, Metrics]]  # state -> (state after the chunk, metrics [chunk, ...]); donates
    abstract_state: Any
    shardings: Any


@functools.lru_cache(maxsize=2)
def shard(algorithm: Algorithm, mesh: jax.sharding.Mesh, updates_per_call: int) -> Sharded:
    """Jits `init` and a chunk of `updates_per_call` updates with the per-env data split over `mesh`.

    Cached, so that running the same algorithm again (a resumed run in the same process) reuses the
    compiled functions.
    """
    abstract = jax.eval_shape(algorithm.init, jax.random.PRNGKey(0))
    shardings = distributed.state_shardings(abstract, mesh)
    init = jax.jit(algorithm.init, out_shardings=shardings)
    chunk = jax.jit(functools.partial(scan_updates, algorithm.update, num_updates=updates_per_call),
                    in_shardings=(shardings,), out_shardings=(shardings, distributed.replicated(mesh)),
                    donate_argnums=0)
    return Sharded(init=init, chunk=chunk, abstract_state=abstract, shardings=shardings)


def run(algorithm: Algorithm, config: ml_collections.ConfigDict, run_dir: str | pathlib.Path, num_updates: int,
        num_envs: int, mesh: jax.sharding.Mesh | None = None) -> tuple[Any, dict[str, np.ndarray]]:
    """Trains until `num_updates` updates are done or `config.run.max_minutes` have passed, resuming from `run_dir`
    if it has checkpoints, else starting from `config.run.init_from`'s checkpoint if one is named (the time budget
    counts from this call; the state at the end is checkpointed).

    The one way to train: the entry points (`launch`), tests and benchmarks all run this.

    Args:
      algorithm: the learner (PPO or DAgger).
      config: the run config; uses `seed` and `run` (updates_per_chunk, checkpoint_every_chunks,
        keep_checkpoints, max_minutes). Saved as `config.json` and in every checkpoint.
      run_dir: the experiment directory.
      num_updates: total updates of the run (a multiple of `config.run.updates_per_chunk`).
      num_envs: environments in the batch (must split evenly over the mesh).
      mesh: device mesh (default: all devices).

    Returns:
      The final training state, and the metrics of the updates this call ran (tag -> [updates], numpy).
    """
    started = time.perf_counter()
    chunk_size = config.run.updates_per_chunk
    if num_updates % chunk_size:
        raise ValueError(f"num_updates={num_updates} must be a multiple of run.updates_per_chunk={chunk_size}")
    mesh = mesh or distributed.make_mesh()
    distributed.check_divisible(num_envs, mesh)
    run_dir = pathlib.Path(run_dir)
    is_main = jax.process_index() == 0
    check_resumable(run_dir, config)
    if is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        files.write_json(run_dir / "config.json", config.to_dict(), "run_config", sort_keys=True)
        print(f"{run_dir}: {num_envs} envs over {mesh.size} device(s) in {jax.process_count()} process(es)")

    rng = jax.random.PRNGKey(config.seed)
    checkpointer = Checkpointer(run_dir / "checkpoints", keep=config.run.keep_checkpoints)
    # Traced under the mesh, so that what runs on the host (the C MuJoCo physics back end) can see the devices.
    with jax.set_mesh(mesh):
        sharded = shard(algorithm, mesh, chunk_size)
        abstract_state = abstract_with_shardings(sharded.abstract_state, sharded.shardings)
        if checkpointer.latest_step() is not None:
            state = checkpointer.restore(abstract_state)
        elif config.run.init_from and config.run.init_weights_only:
            state = _with_weights_from_run(pathlib.Path(config.run.init_from), config.run.init_step, sharded.init(rng))
            if is_main:
                print(f"{run_dir}: starting from the weights of {config.run.init_from}")
        elif config.run.init_from:
            state = _restore_from_run(pathlib.Path(config.run.init_from), config.run.init_step, abstract_state)
            if is_main:
                print(f"{run_dir}: starting from {config.run.init_from} at update "
                      f"{int(distributed.to_host(state.step))}")
        else:
            state = sharded.init(rng)
        step = int(distributed.to_host(state.step))
        start = time.perf_counter()
        compiled = sharded.chunk.lower(state).compile()
    logger = Logger(run_dir / "logs", num_updates, start_update=step, enabled=is_main, config=config)
    logger.write(step, {"time/compile_s": time.perf_counter() - start})
    chunks: list[Metrics] = []
    out_of_time = False
    while step < num_updates and not out_of_time:
        start = time.perf_counter()
        state, metrics = compiled(state)
        metrics = distributed.to_host(metrics)
        seconds = time.perf_counter() - start
        if algorithm.add_train_seconds is not None:
            state = algorithm.add_train_seconds(state, _as_process_zero(seconds))
        step += chunk_size
        chunks.append(metrics)
        logger.log_chunk(step, metrics, {"time/env_steps_per_s": chunk_size * algorithm.env_steps_per_update / seconds})
        out_of_time = _budget_spent(started, config.run.max_minutes)
        if len(chunks) % config.run.checkpoint_every_chunks == 0 or step == num_updates or out_of_time:
            checkpointer.save(step, state, config)
    if out_of_time and is_main:
        print(f"{run_dir}: stopped after {step} of {num_updates} updates, the time budget of "
              f"{config.run.max_minutes:g} minutes spent (run again to continue)")
    checkpointer.wait()
    checkpointer.close()
    logger.close()
    return state, {tag: np.concatenate([chunk[tag] for chunk in chunks]) for tag in (chunks[0] if chunks else {})}
