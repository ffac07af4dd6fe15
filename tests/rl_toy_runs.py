"""Short PPO runs on the toy task, cached so that several test files share them in one session."""

import functools

import jax
import numpy as np

from configs import train as train_config
from genmimic_jax.rl import env_factory, ppo


def small_config(actor_coef: float = 0.0, augment: bool = False, num_updates: int = 20):
    """A training config small enough for the CPU test run."""
    config = train_config.get_config("toy")
    config.network.actor_hidden = (64, 64)
    config.network.critic_hidden = (64, 64)
    config.env.num_envs = 64
    config.ppo.rollout_length = 32
    config.ppo.num_updates = num_updates
    config.symmetry.actor_coef = actor_coef
    config.symmetry.augment = augment
    return config


@functools.lru_cache(maxsize=None)
def train_toy(actor_coef: float = 0.0, augment: bool = False, num_updates: int = 20):
    """(config, env, final PPOState, per-update metrics as numpy) of one jitted `train(rng)` with seed 0."""
    config = small_config(actor_coef, augment, num_updates)
    env = env_factory.make_env(config)
    state, metrics = jax.jit(ppo.make_train(config, env))(jax.random.PRNGKey(0))
    return config, env, state, jax.tree.map(np.asarray, metrics)
