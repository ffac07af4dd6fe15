"""DAgger distillation of the privileged teacher into a deployable student.

Each update rolls out the mixture policy (per env and step, the teacher's mean action with
probability beta, else the student's; beta decays geometrically) and labels every visited state
with the teacher's mean action. The student observations and labels go into DAgger's aggregated
dataset, here a FIFO ring on the device holding the last `dagger.dataset_rollouts` rollouts
(`Dataset`), and the student's mean on its own (`'actor'`) observations is regressed onto the
labels (MSE) for a few epochs of minibatches drawn from the filled part of the ring. The ring
keeps the states that earlier students drove into, so the student does not forget them as soon as
it stops visiting them; `dataset_rollouts=1` is on-policy DAgger on the latest rollout only.
Everything stays on the device inside one jitted update.
"""

from typing import ClassVar

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from genmimic_jax.rl import distributed, normalization
from genmimic_jax.rl.algorithm import Algorithm, Metrics
from genmimic_jax.rl.networks import Params, make_actor
from genmimic_jax.rl.policy import Policy, PolicyFn, make_inference_fn
from genmimic_jax.rl.rollout import RolloutState, init_rollout_state, rollout


@flax.struct.dataclass
class Dataset:
    """DAgger's aggregated dataset: a FIFO ring of the last `capacity` rollouts, per env.

    Env-major (`obs[n, k]` is slot `k` of env `n`), so it shards over devices on its env axis like the
    rollout and every device only ever reads its own envs' data. Insert `i` (0-based) writes slot
    `i % capacity`; after `i + 1` inserts the first `num_filled(i + 1, capacity)` slots hold data.
    """

    obs: jax.Array  # [N, capacity, T, D] raw student observations
    label: jax.Array  # [N, capacity, T, A] teacher mean actions

    @property
    def capacity(self) -> int:
        return self.obs.shape[1]


def init_dataset(num_envs: int, capacity: int, length: int, obs_size: int, action_size: int) -> Dataset:
    """An empty ring for `capacity` rollouts of `length` steps."""
    return Dataset(obs=jnp.zeros((num_envs, capacity, length, obs_size), jnp.float32),
                   label=jnp.zeros((num_envs, capacity, length, action_size), jnp.float32))


def insert(dataset: Dataset, obs: jax.Array, label: jax.Array, count: jax.Array) -> Dataset:
    """Writes one rollout (`obs` [T, N, D], `label` [T, N, A], as `rollout` returns them) over the oldest
    slot, given the number of rollouts `count` inserted before."""
    slot = count % dataset.capacity

    def put(ring: jax.Array, rollout_data: jax.Array) -> jax.Array:
        return jax.lax.dynamic_update_index_in_dim(ring, jnp.swapaxes(rollout_data, 0, 1).astype(ring.dtype),
                                                   slot, axis=1)

    return Dataset(obs=put(dataset.obs, obs), label=put(dataset.label, label))


def num_filled(count: jax.Array, capacity: int) -> jax.Array:
    """Slots holding data after `count` inserts."""
    return jnp.minimum(count, capacity)


def sample_epoch(key: jax.Array, dataset: Dataset, filled: jax.Array) -> jax.Array:
    """Indices [N, T] into each env's flattened ring [capacity * T] for one epoch.

    Every env draws one rollout's worth (T) of its filled samples uniformly without replacement:
    random scores with the empty slots scored below every filled one, then the T highest. An epoch
    thus costs the same whatever the fill (shapes stay static: no recompiling as the ring fills) and
    never touches an empty slot. Once the ring is full, each sample is drawn num_epochs / capacity
    times per update in expectation, so over its `capacity` updates in the ring it is trained on as
    often as on-policy DAgger trains on its rollout, for the same cost per update. Drawing per env
    keeps minibatches on the devices holding their envs.
    """
    num_envs, capacity, length = dataset.obs.shape[:3]
    scores = jax.random.uniform(key, (num_envs, capacity * length))
    scores = jnp.where(jnp.arange(capacity * length) < filled * length, scores, -1.0)
    return jax.lax.top_k(scores, length)[1]  # on a CPU several times faster than a full argsort


@flax.struct.dataclass
class DAggerState:
    """Everything a distillation run needs to continue exactly (this is what checkpoints hold)."""

    # Per-env fields, sharded on their leading env axis (`distributed.state_shardings`).
    PER_ENV_FIELDS: ClassVar[tuple[str, ...]] = ("rollout", "dataset")

    params: Params  # {'actor': student actor parameters}
    opt_state: optax.OptState
    normalizer: normalization.NormalizerState  # student observation statistics
    teacher: Policy
    rollout: RolloutState
    dataset: Dataset
    rng: jax.Array
    step: jax.Array  # updates done, which is also the number of rollouts inserted into `dataset`
    # Wall-clock seconds of training so far (the runner adds each chunk's), only when the learning rate follows the
    # time budget (`dagger.lr_decay_budget_share` > 0); None otherwise, so runs without it keep their checkpoints.
    train_seconds: jax.Array | None = None


def learning_rate(dagger: ml_collections.ConfigDict) -> float | optax.Schedule:
    """The student's learning rate over optimiser steps: `dagger.learning_rate`, or with `dagger.lr_decay_updates` > 0
    a linear decay from it to `dagger.final_learning_rate` over that many updates, then flat."""
    if dagger.lr_decay_updates < 0:
        raise ValueError(f"dagger.lr_decay_updates={dagger.lr_decay_updates} must be 0 (a constant rate) or positive")
    if dagger.lr_decay_updates == 0:
        return dagger.learning_rate
    return optax.linear_schedule(dagger.learning_rate, dagger.final_learning_rate,
                                 dagger.lr_decay_updates * dagger.num_epochs * dagger.num_minibatches)


def timed_learning_rate(config: ml_collections.ConfigDict) -> optax.Schedule | None:
    """The student's learning rate over seconds of training when it follows the time budget, else None.

    With `dagger.lr_decay_budget_share` s > 0 the rate falls linearly from `dagger.learning_rate` to
    `dagger.final_learning_rate` over the first s * `run.max_minutes` of training, then stays: a run ends near a fixed
    point whatever number of updates its machine fits into the budget (a decay over updates tuned on one machine
    does not finish on a slower one). Such a run is not reproducible update for update, as its rate follows the clock.
    """
    dagger = config.dagger
    share = dagger.lr_decay_budget_share
    if share == 0:
        return None
    if not 0 < share <= 1:
        raise ValueError(f"dagger.lr_decay_budget_share={share} must be in (0, 1] (or 0: no decay over time)")
    if dagger.lr_decay_updates:
        raise ValueError("dagger.lr_decay_updates and dagger.lr_decay_budget_share both ask for a decay: set one to 0")
    if config.run.max_minutes <= 0:
        raise ValueError("dagger.lr_decay_budget_share needs a time budget: set run.max_minutes > 0")
    start, end, seconds = dagger.learning_rate, dagger.final_learning_rate, 60.0 * share * config.run.max_minutes
    return lambda train_seconds: start + (end - start) * jnp.minimum(train_seconds / seconds, 1.0)


def add_train_seconds(state: DAggerState, seconds: float) -> DAggerState:
    """`state` with `seconds` more of training on its clock (`train_seconds`, replicated like every scalar)."""
    total = distributed.to_host(state.train_seconds) + np.float32(seconds)
    return state.replace(train_seconds=jax.device_put(total, state.train_seconds.sharding))


def make_dagger(config: ml_collections.ConfigDict, env, teacher: Policy) -> Algorithm:
    """DAgger as `init`/`update` (see `Algorithm`).

    Args:
      config: the distillation config (`configs/distill.py`): `dagger`, `network` (student), `seed`.
      env: a batched environment with the tracking interface.
      teacher: the trained teacher (it reads `teacher.obs_key`).
    """
    dagger = config.dagger
    student_obs = dagger.student_obs
    if dagger.rollout_length % dagger.num_minibatches:
        raise ValueError(f"dagger.rollout_length={dagger.rollout_length} is not divisible by "
                         f"dagger.num_minibatches={dagger.num_minibatches} (every minibatch takes the same "
                         "number of samples from each env)")
    if dagger.dataset_rollouts < 1:
        raise ValueError(f"dagger.dataset_rollouts={dagger.dataset_rollouts} must be at least 1")
    student = make_actor(config.network.actor_hidden, env.action_size, config.network.activation)
    make_student = make_inference_fn(student, dagger.obs_clip)
    timed_rate = timed_learning_rate(config)

    def make_optimizer(rate: float | optax.Schedule) -> optax.GradientTransformation:
        return optax.chain(optax.clip_by_global_norm(dagger.max_grad_norm), optax.adam(rate))

    # A rate that follows the clock is set before each update (`InjectHyperparamsState`) from `train_seconds`, which
    # the runner moves between chunks; otherwise optax counts the steps.
    optimizer = (optax.inject_hyperparams(make_optimizer)(rate=dagger.learning_rate) if timed_rate
                 else make_optimizer(learning_rate(dagger)))

    def init(rng: jax.Array) -> DAggerState:
        rng, net_rng, env_rng = jax.random.split(rng, 3)
        params = {"actor": student.init(net_rng, jnp.zeros((1, env.observation_size[student_obs])))["params"]}
        return DAggerState(params=params, opt_state=optimizer.init(params),
                           normalizer=normalization.init({student_obs: env.observation_size[student_obs]}),
                           teacher=teacher, rollout=init_rollout_state(env, env_rng),
                           dataset=init_dataset(env.num_envs, dagger.dataset_rollouts, dagger.rollout_length,
                                                env.observation_size[student_obs], env.action_size),
                           rng=rng, step=jnp.zeros((), jnp.int32),
                           train_seconds=jnp.zeros((), jnp.float32) if timed_rate else None)

    def student_mean_fn(params: Params, normalizer: normalization.NormalizerState) -> PolicyFn:
        return make_student(params["actor"], normalizer.mean[student_obs], normalizer.std[student_obs])

    def loss_fn(params: Params, normalizer, minibatch: dict[str, jax.Array]) -> jax.Array:
        prediction = student_mean_fn(params, normalizer)(minibatch["obs"])
        return jnp.mean((prediction - minibatch["label"]) ** 2)

    def sgd_step(carry, minibatch, normalizer):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, normalizer, minibatch)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    def update(state: DAggerState) -> tuple[DAggerState, Metrics]:
        rng, rollout_rng, sgd_rng = jax.random.split(state.rng, 3)
        beta = dagger.beta_initial * dagger.beta_decay ** state.step.astype(jnp.float32)
        act_student = student_mean_fn(state.params, state.normalizer)
        act_teacher = state.teacher.inference_fn()

        def behaviour(obs, key):
            student_action, label = act_student(obs[student_obs]), act_teacher(obs[state.teacher.obs_key])
            use_teacher = jax.random.uniform(key, label.shape[:1]) < beta
            action = jnp.where(use_teacher[:, None], label, student_action)
            return action, {"label": label, "student_action": student_action}

        rollout_state, traj, metrics = rollout(env, behaviour, state.rollout, rollout_rng, dagger.rollout_length)
        dataset = insert(state.dataset, traj.obs[student_obs], traj.extras["label"], state.step)
        filled = num_filled(state.step + 1, dataset.capacity)

        def epoch(carry, key):
            indices = sample_epoch(key, dataset, filled)

            def take(x):  # [N, capacity, T, ...] -> [num_minibatches, N, T / num_minibatches, ...]
                flat = x.reshape((x.shape[0], -1) + x.shape[3:])
                picked = jnp.take_along_axis(flat, indices.reshape(indices.shape + (1,) * (x.ndim - 3)), axis=1)
                return jnp.moveaxis(picked.reshape((x.shape[0], dagger.num_minibatches, -1) + x.shape[3:]), 1, 0)

            minibatches = {"obs": take(dataset.obs), "label": take(dataset.label)}
            return jax.lax.scan(lambda c, mb: sgd_step(c, mb, state.normalizer), carry, minibatches)

        opt_state = state.opt_state
        if timed_rate:
            rate = timed_rate(state.train_seconds)
            opt_state = opt_state._replace(hyperparams={**opt_state.hyperparams, "rate": rate})
            metrics["distill/learning_rate"] = rate
        (params, opt_state), losses = jax.lax.scan(epoch, (state.params, opt_state),
                                                   jax.random.split(sgd_rng, dagger.num_epochs))
        normalizer = state.normalizer
        if dagger.normalize_obs:
            normalizer = normalization.update(normalizer, {student_obs: traj.obs[student_obs]})
        metrics["distill/action_error"] = jnp.mean((traj.extras["student_action"] - traj.extras["label"]) ** 2)
        metrics["distill/beta"] = beta
        metrics["distill/dataset_rollouts"] = filled.astype(jnp.float32)
        metrics["loss/distill"] = jnp.mean(losses)
        new_state = state.replace(params=params, opt_state=opt_state, normalizer=normalizer, rollout=rollout_state,
                                  dataset=dataset, rng=rng, step=state.step + 1)
        return new_state, metrics

    return Algorithm(init=init, update=update, env_steps_per_update=env.num_envs * dagger.rollout_length,
                     add_train_seconds=add_train_seconds if timed_rate else None)

