"""Left/right symmetry: the mirror loss and mirrored-data augmentation.

With T_s the observation mirror and T_a the action mirror, a symmetric policy satisfies
mu(T_s(s)) = T_a(mu(s)) and a symmetric critic V(T_s(s)) = V(s). Functions here take raw
observations: mirroring happens before normalisation, because the running statistics
are not themselves mirror-symmetric.
"""

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp

from genmimic_jax.envs.mirror import MirrorMap

Obs = Mapping[str, jax.Array]


def mirror_obs(obs: Obs, mirror_maps: Mapping[str, MirrorMap]) -> dict[str, jax.Array]:
    """Mirrors every observation kind with its map."""
    return {key: mirror_maps[key].apply(value) for key, value in obs.items()}


def actor_loss(mean_fn: Callable[[jax.Array], jax.Array], obs: jax.Array, obs_map: MirrorMap,
               action_map: MirrorMap) -> jax.Array:
    """L_SYM = mean over the batch of ||mu(T_s(s)) - T_a(mu(s))||^2.

    Args:
      mean_fn: raw actor observation [B, D] -> action mean [B, A].
      obs: raw actor observations [B, D].
      obs_map: mirror of the actor observation.
      action_map: mirror of the action.
    """
    mirrored_mean = mean_fn(obs_map.apply(obs))
    return jnp.mean(jnp.sum((mirrored_mean - action_map.apply(mean_fn(obs))) ** 2, axis=-1))


def critic_loss(value_fn: Callable[[jax.Array], jax.Array], obs: jax.Array, obs_map: MirrorMap) -> jax.Array:
    """Mean over the batch of (V(T_s(s)) - V(s))^2 for raw critic observations [B, D]."""
    return jnp.mean((value_fn(obs_map.apply(obs)) - value_fn(obs)) ** 2)
