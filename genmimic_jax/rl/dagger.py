"""DAgger distillation of the privileged teacher into a deployable student.

Each update rolls out the mixture policy (per env and step, the teacher's mean action with
probability beta, else the student's; beta decays geometrically), labels every visited state
with the teacher's mean action, and regresses the student's mean on its own (`'actor'`)
observations onto the labels (MSE) for a few epochs of minibatches. Only the latest rollout is
trained on (on-policy DAgger), so everything stays on the device inside one jitted update.
"""

from collections.abc import Callable

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax

from genmimic_jax.rl import normalization
from genmimic_jax.rl.algorithm import Algorithm, Metrics, make_run
from genmimic_jax.rl.networks import MLP, Params, make_actor
from genmimic_jax.rl.rollout import RolloutState, flatten_time, init_rollout_state, rollout


@flax.struct.dataclass
class TeacherPolicy:
    """A frozen policy: actor parameters and the observation statistics it was trained with."""

    actor_params: Params
    obs_mean: jax.Array
    obs_std: jax.Array


@flax.struct.dataclass
class DAggerState:
    """Everything a distillation run needs to continue exactly (this is what checkpoints hold)."""

    params: Params  # {'actor': student actor parameters}
    opt_state: optax.OptState
    normalizer: normalization.NormalizerState  # student observation statistics
    teacher: TeacherPolicy
    rollout: RolloutState
    rng: jax.Array
    step: jax.Array


def teacher_mean_fn(network: MLP, teacher: TeacherPolicy, obs_clip: float) -> Callable[[jax.Array], jax.Array]:
    """Raw teacher observation -> teacher mean action."""
    return lambda obs: network.apply({"params": teacher.actor_params},
                                     jnp.clip((obs - teacher.obs_mean) / teacher.obs_std, -obs_clip, obs_clip))


def make_dagger(config: ml_collections.ConfigDict, env, teacher: TeacherPolicy) -> Algorithm:
    """DAgger as `init`/`update` (see `Algorithm`).

    Args:
      config: the distillation config (`configs/distill.py`): `dagger`, `network` (student),
        `teacher` (network, actor_obs, obs_clip of the teacher), `seed`.
      env: a batched environment with the tracking interface.
      teacher: the trained teacher.
    """
    dagger = config.dagger
    student_obs, teacher_obs = dagger.student_obs, config.teacher.actor_obs
    batch_size = env.num_envs * dagger.rollout_length
    if batch_size % dagger.num_minibatches:
        raise ValueError(f"num_envs * rollout_length = {batch_size} is not divisible by "
                         f"dagger.num_minibatches={dagger.num_minibatches}")
    minibatch_size = batch_size // dagger.num_minibatches
    student = make_actor(config.network.actor_hidden, env.action_size, config.network.activation)
    teacher_net = make_actor(config.teacher.network.actor_hidden, env.action_size, config.teacher.network.activation)
    optimizer = optax.chain(optax.clip_by_global_norm(dagger.max_grad_norm), optax.adam(dagger.learning_rate))

    def init(rng: jax.Array) -> DAggerState:
        rng, net_rng, env_rng = jax.random.split(rng, 3)
        params = {"actor": student.init(net_rng, jnp.zeros((1, env.observation_size[student_obs])))["params"]}
        return DAggerState(params=params, opt_state=optimizer.init(params),
                           normalizer=normalization.init({student_obs: env.observation_size[student_obs]}),
                           teacher=teacher, rollout=init_rollout_state(env, env_rng), rng=rng,
                           step=jnp.zeros((), jnp.int32))

    def student_mean_fn(params: Params, normalizer) -> Callable[[jax.Array], jax.Array]:
        return lambda obs: student.apply({"params": params["actor"]},
                                         normalization.normalize(normalizer, obs, student_obs, dagger.obs_clip))

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
        act_teacher = teacher_mean_fn(teacher_net, state.teacher, config.teacher.obs_clip)

        def behaviour(obs, key):
            student_action, label = act_student(obs[student_obs]), act_teacher(obs[teacher_obs])
            use_teacher = jax.random.uniform(key, label.shape[:1]) < beta
            action = jnp.where(use_teacher[:, None], label, student_action)
            return action, {"label": label, "student_action": student_action}

        rollout_state, traj, metrics = rollout(env, behaviour, state.rollout, rollout_rng, dagger.rollout_length)
        batch = flatten_time({"obs": traj.obs[student_obs], "label": traj.extras["label"]})

        def epoch(carry, key):
            permutation = jax.random.permutation(key, batch_size)
            minibatches = jax.tree.map(
                lambda x: x[permutation].reshape((dagger.num_minibatches, minibatch_size) + x.shape[1:]), batch)
            return jax.lax.scan(lambda c, mb: sgd_step(c, mb, state.normalizer), carry, minibatches)

        (params, opt_state), losses = jax.lax.scan(epoch, (state.params, state.opt_state),
                                                   jax.random.split(sgd_rng, dagger.num_epochs))
        normalizer = state.normalizer
        if dagger.normalize_obs:
            normalizer = normalization.update(normalizer, {student_obs: traj.obs[student_obs]})
        metrics["distill/action_error"] = jnp.mean((traj.extras["student_action"] - traj.extras["label"]) ** 2)
        metrics["distill/beta"] = beta
        metrics["loss/distill"] = jnp.mean(losses)
        new_state = state.replace(params=params, opt_state=opt_state, normalizer=normalizer, rollout=rollout_state,
                                  rng=rng, step=state.step + 1)
        return new_state, metrics

    return Algorithm(init=init, update=update, env_steps_per_update=env.num_envs * dagger.rollout_length)


def make_distill(config: ml_collections.ConfigDict, env,
                 teacher: TeacherPolicy) -> Callable[[jax.Array], tuple[DAggerState, Metrics]]:
    """The whole distillation (`config.dagger.num_updates` updates) as one pure, jittable `distill(rng)`."""
    return make_run(make_dagger(config, env, teacher), config.dagger.num_updates)


def teacher_from_ppo(params: Params, normalizer: normalization.NormalizerState, obs_key: str) -> TeacherPolicy:
    """Freezes a PPO actor (its parameters and the statistics of its observation `obs_key`) as a teacher."""
    return TeacherPolicy(actor_params=params["actor"], obs_mean=normalizer.mean[obs_key],
                         obs_std=normalizer.std[obs_key])
