"""Short PPO runs on the toy task, cached so that several test files share them in one session."""

import functools
import tempfile

import flax.serialization
import ml_collections

from configs import train as train_config
from genmimic_jax.rl import env_factory, ppo, runner
from genmimic_jax.rl.policy import Policy, policy_of


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
    """(config, env, final PPOState, per-update metrics) of a `runner.run` with seed 0, in a temporary run dir."""
    config = small_config(actor_coef, augment, num_updates)
    env = env_factory.make_env(config)
    with tempfile.TemporaryDirectory() as run_dir:
        state, metrics = runner.run(ppo.make_ppo(config, env), config, run_dir, num_updates, env.num_envs)
    return config, env, state, metrics


def frozen_actor(config: ml_collections.ConfigDict, state: ppo.PPOState) -> Policy:
    """The PPO actor of a training state as the frozen policy a teacher run's checkpoint gives."""
    return policy_of(flax.serialization.to_state_dict(state), config.to_dict(), "teacher")
