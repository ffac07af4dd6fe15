"""Batched environment rollouts with `lax.scan`, shared by PPO and DAgger."""

from collections.abc import Callable
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
from brax.envs.base import State

Obs = dict[str, jax.Array]
# The acting policy of a rollout: behaviour(obs, rng) -> (action [N, A], extras: dict of [N, ...] arrays stored
# per step). (`rl.policy.PolicyFn` is the deterministic obs -> action map it is usually built from.)
BehaviourFn = Callable[[Obs, jax.Array], tuple[jax.Array, dict[str, jax.Array]]]


@flax.struct.dataclass
class RolloutState:
    """Everything that is per environment (sharded over devices): the env state and episode accumulators."""

    env_state: State
    episode_return: jax.Array  # [N] return of the running episode so far
    episode_length: jax.Array  # [N] steps of the running episode so far


@flax.struct.dataclass
class Transition:
    """One step of all envs; after a rollout every leaf has leading dims [T, N]."""

    obs: Obs  # raw (unnormalised) observations the action was taken from
    action: jax.Array
    reward: jax.Array
    done: jax.Array
    truncation: jax.Array
    extras: dict[str, jax.Array]


def init_rollout_state(env, rng: jax.Array) -> RolloutState:
    """Resets all envs and zeroes the episode accumulators."""
    env_state = env.reset(rng)
    zeros = jnp.zeros_like(env_state.reward)
    return RolloutState(env_state=env_state, episode_return=zeros, episode_length=zeros)


def rollout(env, behaviour: BehaviourFn, state: RolloutState, rng: jax.Array,
            length: int) -> tuple[RolloutState, Transition, dict[str, jax.Array]]:
    """Runs `length` control steps of all envs.

    Returns:
      The final rollout state, the transitions [length, N, ...] and scalar metrics: the mean of every env
      metric over all steps (`reward/<term>`, `termination/<kind>`, and `env/<name>` for ungrouped ones),
      and the mean return and length of the episodes that finished during the rollout (`episode/return`,
      `episode/length`; NaN if none finished).
    """

    def step(carry: tuple[RolloutState, jax.Array], _):
        state, rng = carry
        rng, behaviour_rng = jax.random.split(rng)
        obs = state.env_state.obs
        action, extras = behaviour(obs, behaviour_rng)
        env_state = env.step(state.env_state, action)
        episode_return = state.episode_return + env_state.reward
        episode_length = state.episode_length + 1.0
        finished = env_state.done
        transition = Transition(obs=obs, action=action, reward=env_state.reward, done=env_state.done,
                                truncation=env_state.info["truncation"], extras=extras)
        per_step = (env_state.metrics, finished * episode_return, finished * episode_length)
        keep = 1.0 - finished
        state = RolloutState(env_state=env_state, episode_return=episode_return * keep,
                             episode_length=episode_length * keep)
        return (state, rng), (transition, per_step)

    (state, _), (transitions, (env_metrics, returns, lengths)) = jax.lax.scan(
        step, (state, rng), None, length=length)
    finished = jnp.sum(transitions.done)
    # An env metric in a group of its own ('reward/...', 'termination/...') keeps it; the others go under 'env/'.
    metrics = {name if "/" in name else f"env/{name}": jnp.mean(value) for name, value in env_metrics.items()}
    metrics["episode/return"] = jnp.where(finished > 0, jnp.sum(returns) / finished, jnp.nan)
    metrics["episode/length"] = jnp.where(finished > 0, jnp.sum(lengths) / finished, jnp.nan)
    metrics["episode/count"] = finished
    return state, transitions, metrics


def flatten_time(tree: Any) -> Any:
    """Merges the leading [T, N] dims of every leaf into one env-major batch dim.

    Env-major order keeps each device's envs contiguous, so a batch sharded over envs stays local.
    """
    return jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1).reshape((-1,) + x.shape[2:]), tree)
