"""Proximal policy optimisation with an asymmetric actor-critic and the left/right symmetry loss.

`make_ppo(config, env)` is the learner as a pure `init`/`update` pair (`algorithm.Algorithm`), which
`runner.run` trains in jitted chunks of updates with checkpoints. One update: a `lax.scan` rollout, GAE, then epochs
of shuffled minibatches of clipped-surrogate PPO (+ value loss, entropy bonus, symmetry terms), then the observation
statistics update.
"""

from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax

from genmimic_jax.rl import normalization, symmetry
from genmimic_jax.rl.algorithm import Algorithm, Metrics
from genmimic_jax.rl.networks import (ActorCritic, Params, gaussian_entropy, gaussian_kl, gaussian_log_prob,
                                      make_actor_critic)
from genmimic_jax.rl.policy import PolicyFn, make_inference_fn
from genmimic_jax.rl.rollout import BehaviourFn, RolloutState, flatten_time, init_rollout_state, rollout

CRITIC_OBS = "privileged"
LR_SCHEDULES = ("constant", "linear", "adaptive_kl")


@flax.struct.dataclass
class PPOState:
    """Everything a PPO run needs to continue exactly (this is what checkpoints hold)."""

    # Per-env fields, sharded on their leading env axis (`distributed.state_shardings`).
    PER_ENV_FIELDS: ClassVar[tuple[str, ...]] = ("rollout",)

    params: Params
    opt_state: optax.OptState
    normalizer: normalization.NormalizerState
    rollout: RolloutState
    rng: jax.Array
    step: jax.Array  # updates done so far


def compute_gae(reward: jax.Array, value: jax.Array, done: jax.Array, truncation: jax.Array,
                last_value: jax.Array, discount: float, gae_lambda: float) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation over [T, N] arrays.

    An episode cut by the time limit is not a failure: its last reward is bootstrapped with
    discount * V(s_T), which stands in for the value of the final state the auto-reset replaced.

    Returns:
      Advantages and value targets, both [T, N].
    """
    reward = reward + discount * truncation * value

    def backward(carry, step):
        next_advantage, next_value = carry
        r, v, d = step
        delta = r + discount * (1.0 - d) * next_value - v
        advantage = delta + discount * gae_lambda * (1.0 - d) * next_advantage
        return (advantage, v), advantage

    _, advantage = jax.lax.scan(backward, (jnp.zeros_like(last_value), last_value), (reward, value, done),
                                reverse=True)
    return advantage, advantage + value


def make_optimizer(ppo: ml_collections.ConfigDict, sgd_steps_per_update: int) -> optax.GradientTransformation:
    """Adam after global-norm clipping; the learning rate is an injected hyperparameter."""
    if ppo.lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"ppo.lr_schedule must be one of {LR_SCHEDULES}, got {ppo.lr_schedule!r}")
    learning_rate = ppo.learning_rate
    if ppo.lr_schedule == "linear":
        learning_rate = optax.linear_schedule(ppo.learning_rate, 0.0, ppo.num_updates * sgd_steps_per_update)

    def optimizer(learning_rate):
        return optax.chain(optax.clip_by_global_norm(ppo.max_grad_norm), optax.adam(learning_rate, eps=1e-5))

    return optax.inject_hyperparams(optimizer)(learning_rate=learning_rate)


def adapt_learning_rate(learning_rate: jax.Array, kl: jax.Array, ppo: ml_collections.ConfigDict) -> jax.Array:
    """RSL-RL's rule: shrink the step when the policy moved too far, grow it when it barely moved."""
    learning_rate = jnp.where(kl > 2.0 * ppo.desired_kl, learning_rate / 1.5, learning_rate)
    learning_rate = jnp.where(kl < 0.5 * ppo.desired_kl, learning_rate * 1.5, learning_rate)
    return jnp.clip(learning_rate, ppo.min_learning_rate, ppo.max_learning_rate)


class ActorCriticFns(NamedTuple):
    """The networks on raw observations through the running normaliser; each maps (params, normalizer) to a function.

    Attributes:
      mean: the deterministic policy on the actor's observation (`rl.policy.make_inference_fn`).
      value: the critic on the privileged observation.
      behaviour: the stochastic rollout policy; stores the mean, log-std, log-prob and value of every step.
    """

    mean: Callable[[Params, normalization.NormalizerState], PolicyFn]
    value: Callable[[Params, normalization.NormalizerState], Callable[[jax.Array], jax.Array]]
    behaviour: Callable[[Params, normalization.NormalizerState], BehaviourFn]


def make_actor_critic_fns(nets: ActorCritic, actor_obs: str, obs_clip: float) -> ActorCriticFns:
    """`ActorCriticFns` of the networks, the actor reading observation `actor_obs`."""
    make_policy = make_inference_fn(nets.actor, obs_clip)

    def mean_fn(params: Params, normalizer: normalization.NormalizerState) -> PolicyFn:
        return make_policy(params["actor"], normalizer.mean[actor_obs], normalizer.std[actor_obs])

    def value_fn(params: Params, normalizer: normalization.NormalizerState) -> Callable[[jax.Array], jax.Array]:
        mean, std = normalizer.mean[CRITIC_OBS], normalizer.std[CRITIC_OBS]
        return lambda obs: nets.value(params, normalization.normalize(obs, mean, std, obs_clip))

    def behaviour(params: Params, normalizer: normalization.NormalizerState) -> BehaviourFn:
        policy, value = mean_fn(params, normalizer), value_fn(params, normalizer)

        def act(obs, key):
            mean = policy(obs[actor_obs])
            action = mean + jnp.exp(params["log_std"]) * jax.random.normal(key, mean.shape)
            log_std = jnp.broadcast_to(params["log_std"], mean.shape)
            return action, {"mean": mean, "log_std": log_std, "value": value(obs[CRITIC_OBS]),
                            "log_prob": gaussian_log_prob(mean, log_std, action)}

        return act

    return ActorCriticFns(mean=mean_fn, value=value_fn, behaviour=behaviour)


def mirrored_batch(batch: dict[str, Any], mirror_maps) -> dict[str, Any]:
    """The batch reflected left/right, for mirrored-data augmentation.

    A mirrored sample (T_s s, T_a a) was in effect drawn from the mirrored behaviour policy, whose
    density at T_a a equals the behaviour policy's at a: its behaviour log-prob stays the stored one,
    its behaviour mean is T_a of the stored mean and its standard deviations are permuted (unsigned).
    Advantages, value targets and old values carry over unchanged because the task is symmetric.
    """
    action_map = mirror_maps["action"]
    return dict(batch, obs=symmetry.mirror_obs(batch["obs"], mirror_maps), action=action_map.apply(batch["action"]),
                mean=action_map.apply(batch["mean"]), log_std=batch["log_std"][..., action_map.perm])


def make_ppo(config: ml_collections.ConfigDict, env) -> Algorithm:
    """PPO as `init`/`update` (see `Algorithm`).

    Args:
      config: the training config (`configs/train.py`): `ppo`, `network`, `symmetry`, `seed`.
      env: a batched environment with the tracking interface (`reset`, `step`, `observation_size`,
        `action_size`, `mirror_maps`, `num_envs`).
    """
    ppo, sym = config.ppo, config.symmetry
    actor_obs = ppo.actor_obs
    if actor_obs not in env.observation_size:
        raise ValueError(f"ppo.actor_obs={actor_obs!r} is not an observation of the env "
                         f"({sorted(env.observation_size)})")
    num_envs = env.num_envs
    batch_size = num_envs * ppo.rollout_length * (2 if sym.augment else 1)
    if batch_size % ppo.num_minibatches:
        raise ValueError(f"num_envs * rollout_length (x2 with symmetry.augment) = {batch_size} is not divisible "
                         f"by ppo.num_minibatches={ppo.num_minibatches}")
    minibatch_size = batch_size // ppo.num_minibatches
    obs_keys = sorted({actor_obs, CRITIC_OBS})
    nets = make_actor_critic(config, env.action_size)
    mean_fn, value_fn, behaviour = make_actor_critic_fns(nets, actor_obs, ppo.obs_clip)
    optimizer = make_optimizer(ppo, ppo.num_epochs * ppo.num_minibatches)
    mirror_maps = env.mirror_maps

    def init(rng: jax.Array) -> PPOState:
        rng, net_rng, env_rng = jax.random.split(rng, 3)
        params = nets.init(net_rng, env.observation_size[actor_obs], env.observation_size[CRITIC_OBS])
        return PPOState(
            params=params,
            opt_state=optimizer.init(params),
            normalizer=normalization.init({key: env.observation_size[key] for key in obs_keys}),
            rollout=init_rollout_state(env, env_rng),
            rng=rng,
            step=jnp.zeros((), jnp.int32),
        )

    def loss_fn(params: Params, normalizer, minibatch: dict[str, Any]):
        policy, value_of = mean_fn(params, normalizer), value_fn(params, normalizer)
        obs = minibatch["obs"]
        mean = policy(obs[actor_obs])
        log_std = params["log_std"]
        ratio = jnp.exp(gaussian_log_prob(mean, log_std, minibatch["action"]) - minibatch["log_prob"])
        advantage = minibatch["advantage"]
        if ppo.normalize_advantages:
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        clipped_ratio = jnp.clip(ratio, 1.0 - ppo.clip_eps, 1.0 + ppo.clip_eps)
        policy_loss = -jnp.mean(jnp.minimum(ratio * advantage, clipped_ratio * advantage))

        value = value_of(obs[CRITIC_OBS])
        value_error = (value - minibatch["target"]) ** 2
        if ppo.clip_value:
            clipped_value = minibatch["value"] + jnp.clip(value - minibatch["value"], -ppo.clip_eps, ppo.clip_eps)
            value_error = jnp.maximum(value_error, (clipped_value - minibatch["target"]) ** 2)
        value_loss = 0.5 * jnp.mean(value_error)
        entropy = gaussian_entropy(log_std)

        total = policy_loss + ppo.value_coef * value_loss - ppo.entropy_coef * entropy
        aux = {
            "loss/policy": policy_loss,
            "loss/value": value_loss,
            "loss/entropy": entropy,
            "policy/kl": jnp.mean(gaussian_kl(minibatch["mean"], minibatch["log_std"], mean, log_std)),
            "policy/clip_fraction": jnp.mean(jnp.abs(ratio - 1.0) > ppo.clip_eps),
        }
        if sym.actor_coef > 0:
            aux["loss/symmetry_actor"] = symmetry.actor_loss(policy, obs[actor_obs], mirror_maps[actor_obs],
                                                             mirror_maps["action"])
            total += sym.actor_coef * aux["loss/symmetry_actor"]
        if sym.critic_coef > 0:
            aux["loss/symmetry_critic"] = symmetry.critic_loss(value_of, obs[CRITIC_OBS], mirror_maps[CRITIC_OBS])
            total += sym.critic_coef * aux["loss/symmetry_critic"]
        aux["loss/total"] = total
        return total, aux

    def sgd_step(carry, minibatch, normalizer):
        params, opt_state = carry
        grads, aux = jax.grad(loss_fn, has_aux=True)(params, normalizer, minibatch)
        if ppo.lr_schedule == "adaptive_kl":
            learning_rate = adapt_learning_rate(opt_state.hyperparams["learning_rate"], aux["policy/kl"], ppo)
            opt_state = opt_state._replace(hyperparams=dict(opt_state.hyperparams, learning_rate=learning_rate))
        aux["optim/learning_rate"] = opt_state.hyperparams["learning_rate"]
        aux["optim/grad_norm"] = optax.global_norm(grads)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), aux

    def update(state: PPOState) -> tuple[PPOState, Metrics]:
        rng, rollout_rng, sgd_rng = jax.random.split(state.rng, 3)
        params, normalizer = state.params, state.normalizer
        rollout_state, traj, metrics = rollout(env, behaviour(params, normalizer), state.rollout, rollout_rng,
                                               ppo.rollout_length)
        last_value = value_fn(params, normalizer)(rollout_state.env_state.obs[CRITIC_OBS])
        advantage, target = compute_gae(traj.reward, traj.extras["value"], traj.done, traj.truncation, last_value,
                                        ppo.discount, ppo.gae_lambda)
        obs = {key: traj.obs[key] for key in obs_keys}
        batch = flatten_time(dict(traj.extras, obs=obs, action=traj.action, advantage=advantage, target=target))
        if sym.augment:
            batch = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), batch, mirrored_batch(batch, mirror_maps))

        def epoch(carry, key):
            permutation = jax.random.permutation(key, batch_size)
            minibatches = jax.tree.map(
                lambda x: x[permutation].reshape((ppo.num_minibatches, minibatch_size) + x.shape[1:]), batch)
            return jax.lax.scan(lambda c, mb: sgd_step(c, mb, normalizer), carry, minibatches)

        (new_params, opt_state), sgd_metrics = jax.lax.scan(epoch, (params, state.opt_state),
                                                            jax.random.split(sgd_rng, ppo.num_epochs))
        if ppo.normalize_obs:
            normalizer = normalization.update(normalizer, obs)
        metrics.update(jax.tree.map(jnp.mean, sgd_metrics))
        metrics["policy/std"] = jnp.mean(jnp.exp(new_params["log_std"]))
        metrics["policy/value_mean"] = jnp.mean(traj.extras["value"])
        metrics["symmetry/actor_error"] = symmetry.actor_loss(
            mean_fn(new_params, normalizer), obs[actor_obs].reshape(-1, obs[actor_obs].shape[-1]),
            mirror_maps[actor_obs], mirror_maps["action"])
        new_state = PPOState(params=new_params, opt_state=opt_state, normalizer=normalizer, rollout=rollout_state,
                             rng=rng, step=state.step + 1)
        return new_state, metrics

    return Algorithm(init=init, update=update, env_steps_per_update=num_envs * ppo.rollout_length)

