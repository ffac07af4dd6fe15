"""Small policies and clips built in code for the evaluation, export and sim-to-sim tests."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from genmimic_jax.envs.synthetic_motion import synthetic_motion
from genmimic_jax.rl.networks import make_actor
from genmimic_jax.rl.policy import Policy, SavedPolicy
from genmimic_jax.robot.g1 import constants


def short_clips():
    """Two short reference clips: the synthetic wave, and a weaker one turned by 0.7 rad."""
    return [synthetic_motion(duration=0.3), synthetic_motion(duration=0.4, scale=0.5, yaw=0.7)]


def random_policy(env_config, obs_size: int, obs_key: str = "actor", seed: int = 0, action_gain: float = 1.0,
                  hidden=(32, 32), activation: str = "elu") -> SavedPolicy:
    """A random actor of the learner's kind, normaliser std 3; `action_gain` scales its output layer."""
    actor = make_actor(hidden, constants.NUM_JOINTS, activation)
    params = jax.tree.map(np.asarray, actor.init(jax.random.PRNGKey(seed), jnp.zeros((1, obs_size)))["params"])
    last = f"Dense_{len(hidden)}"
    params[last]["kernel"] = params[last]["kernel"] * action_gain
    policy = Policy(actor_params=params, obs_mean=np.zeros(obs_size, np.float32),
                    obs_std=np.full(obs_size, 3.0, np.float32), obs_key=obs_key, obs_clip=10.0,
                    hidden_sizes=tuple(hidden), activation=activation)
    return SavedPolicy(policy=policy, kind="student" if obs_key == "actor" else "teacher", step=0,
                       run_config={"env": env_config.to_dict()}, run_dir=pathlib.Path("."))


def write_student_run(run_dir, policy: Policy, env_config) -> None:
    """Saves `policy` as a one-checkpoint student run directory (the layout experiments.distill writes)."""
    _write_run(run_dir, policy, env_config, {"dagger": {"student_obs": policy.obs_key, "obs_clip": policy.obs_clip}})


def write_teacher_run(run_dir, policy: Policy, env_config) -> None:
    """Saves `policy` as a one-checkpoint teacher run directory (the layout experiments.train writes)."""
    _write_run(run_dir, policy, env_config,
               {"motion_dir": "", "ppo": {"actor_obs": policy.obs_key, "obs_clip": policy.obs_clip}})


def _write_run(run_dir, policy: Policy, env_config, learner: dict) -> None:
    import ml_collections

    from genmimic_jax.rl.checkpointing import Checkpointer

    config = ml_collections.ConfigDict({
        "env_name": "g1_tracking", "env": env_config.to_dict(),
        "network": {"actor_hidden": list(policy.hidden_sizes), "activation": policy.activation}, **learner})
    state = {"params": {"actor": policy.actor_params},
             "normalizer": {"mean": {policy.obs_key: policy.obs_mean}, "std": {policy.obs_key: policy.obs_std}}}
    checkpointer = Checkpointer(pathlib.Path(run_dir) / "checkpoints")
    checkpointer.save(1, state, config)
    checkpointer.wait()
    checkpointer.close()
