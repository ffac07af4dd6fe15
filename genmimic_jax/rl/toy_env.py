"""A tiny left/right-symmetric tracking task with the tracking environment's interface.

A point mass in the plane (x forward, y lateral) with two "arm" roll joints follows a
sinusoidal goal trajectory. It is the fast fixture for the learning code: the same batched
`reset`/`step` over a `brax.envs.base.State`, the same observation dict
(`'actor'`, `'privileged'`), done/truncation with auto-reset, per-term reward metrics (same
reward convention), the `keypoint_error` metric and mirror maps as
`genmimic_jax.envs.tracking.TrackingEnv`, but PPO learns it in about a minute on a CPU. Mirroring flips y (and the
lateral force) and swaps the arms, whose roll angles change sign.
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from brax.envs.base import State

from genmimic_jax.envs.mirror import MirrorMap, concat

REWARD_TERMS = ("position", "arms", "action_rate")


def default_config() -> ml_collections.ConfigDict:
    """Default toy-task configuration."""
    config = ml_collections.ConfigDict()
    config.num_envs = 64
    config.episode_length = 100
    config.dt = 0.05
    config.damping = 1.0
    config.force_scale = 4.0
    config.arm_speed_scale = 2.0
    config.goal_amplitude = 0.6  # metres, per axis
    config.goal_frequency = 1.5  # rad/s
    config.arm_amplitude = 1.0  # rad
    config.mass_range = (0.8, 1.2)
    config.fail_distance = 0.4  # position error that ends an episode as a failure
    # The tracking env's convention: tracking terms are kernels exp(-err^2 / sigma^2) in [0, 1], regularisers
    # non-negative costs with negative weights; the reward is dt * sum_term weight[term] * term.
    config.reward = ml_collections.ConfigDict()
    config.reward.weights = ml_collections.ConfigDict({"position": 1.0, "arms": 0.5, "action_rate": -0.01})
    config.reward.sigmas = ml_collections.ConfigDict({"position": 0.224, "arms": 0.447})  # m, rad
    return config


class ToyTrackingEnv:
    """Batched point-mass-with-arms tracking (see the module docstring).

    Observations: `'actor'` [16] = goal offset (2), velocity (2), arm angles (2), arm goals (2),
    goal velocity (2), arm goal velocity (2), last action (4); `'privileged'` [19] = actor + position (2),
    mass (1).
    Actions [4]: force x, force y, left arm speed, right arm speed (raw, scaled internally).
    """

    action_size = 4
    observation_size = {"actor": 16, "privileged": 19}

    def __init__(self, config: ml_collections.ConfigDict):
        self.config = config
        self.num_envs = int(config.num_envs)
        plane = MirrorMap(perm=np.arange(2), sign=np.array([1.0, -1.0]))
        arms = MirrorMap(perm=np.array([1, 0]), sign=-np.ones(2))
        action = MirrorMap(perm=np.array([0, 1, 3, 2]), sign=np.array([1.0, -1.0, -1.0, -1.0]))
        actor = concat([plane, plane, arms, arms, plane, arms, action])
        self.mirror_maps = {
            "actor": actor,
            "privileged": concat([actor, plane, MirrorMap.identity(1)]),
            "action": action,
        }

    def _goal(self, info: dict, t: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        """Goal position, goal velocity, arm goals and arm-goal velocities at time `t` (seconds)."""
        w = self.config.goal_frequency
        angle = w * t + info["phase"]
        return (
            info["amplitude"][:2] * jnp.sin(angle[:2]),
            info["amplitude"][:2] * w * jnp.cos(angle[:2]),
            info["amplitude"][2:] * jnp.sin(angle[2:]),
            info["amplitude"][2:] * w * jnp.cos(angle[2:]),
        )

    def _obs(self, info: dict) -> dict[str, jax.Array]:
        goal, goal_vel, arm_goal, arm_goal_vel = self._goal(info, info["steps"] * self.config.dt)
        actor = jnp.concatenate([goal - info["pos"], info["vel"], info["arms"], arm_goal, goal_vel, arm_goal_vel,
                                 info["last_action"]])
        privileged = jnp.concatenate([actor, info["pos"], info["mass"][None]])
        return {"actor": actor, "privileged": privileged}

    def _reset_one(self, rng: jax.Array) -> State:
        cfg = self.config
        rng, amp_rng, phase_rng, mass_rng, noise_rng = jax.random.split(rng, 5)
        max_amp = jnp.array([cfg.goal_amplitude] * 2 + [cfg.arm_amplitude] * 2)
        info = {
            "rng": rng,
            "steps": jnp.zeros((), jnp.int32),
            "truncation": jnp.zeros(()),
            "amplitude": jax.random.uniform(amp_rng, (4,)) * max_amp,
            "phase": jax.random.uniform(phase_rng, (4,), maxval=2 * jnp.pi),
            "mass": jax.random.uniform(mass_rng, (), minval=cfg.mass_range[0], maxval=cfg.mass_range[1]),
            "last_action": jnp.zeros((self.action_size,)),
        }
        goal, goal_vel, arm_goal, _ = self._goal(info, jnp.zeros(()))
        noise = 0.05 * jax.random.normal(noise_rng, (4,))
        info.update(pos=goal + noise[:2], vel=goal_vel, arms=arm_goal + noise[2:])
        metrics = {f"reward/{term}": jnp.zeros(()) for term in REWARD_TERMS}
        metrics["keypoint_error"] = jnp.zeros(())
        return State(pipeline_state=None, obs=self._obs(info), reward=jnp.zeros(()), done=jnp.zeros(()),
                     metrics=metrics, info=info)

    def _step_one(self, state: State, action: jax.Array) -> State:
        cfg = self.config
        info = dict(state.info)
        force = cfg.force_scale * action[:2]
        info["vel"] = info["vel"] + cfg.dt * (force / info["mass"] - cfg.damping * info["vel"])
        info["pos"] = info["pos"] + cfg.dt * info["vel"]
        info["arms"] = info["arms"] + cfg.dt * cfg.arm_speed_scale * action[2:]
        info["steps"] = info["steps"] + 1
        goal, _, arm_goal, _ = self._goal(info, info["steps"] * cfg.dt)
        error = jnp.linalg.norm(goal - info["pos"])
        sigma = cfg.reward.sigmas
        terms = {
            "position": jnp.exp(-error**2 / sigma.position**2),
            "arms": jnp.exp(-jnp.sum((arm_goal - info["arms"]) ** 2) / sigma.arms**2),
            "action_rate": jnp.sum((action - info["last_action"]) ** 2),
        }
        info["last_action"] = action
        weighted = {name: cfg.dt * cfg.reward.weights[name] * value for name, value in terms.items()}
        failed = error > cfg.fail_distance
        truncated = jnp.logical_and(info["steps"] >= cfg.episode_length, ~failed)
        done = jnp.logical_or(failed, truncated).astype(jnp.float32)
        info["truncation"] = truncated.astype(jnp.float32)
        metrics = {f"reward/{name}": value for name, value in weighted.items()}
        metrics["keypoint_error"] = error  # the point's distance to its goal
        stepped = State(pipeline_state=None, obs=self._obs(info), reward=sum(weighted.values()), done=done,
                        metrics=metrics, info=info)
        fresh = self._reset_one(info["rng"])
        # Auto-reset: a finished env continues from a fresh episode but reports this step's outcome.
        fresh_info = dict(fresh.info, truncation=info["truncation"])
        restarted = stepped.replace(obs=fresh.obs, info=fresh_info)
        return jax.tree.map(lambda a, b: jnp.where(done > 0, a, b), restarted, stepped)

    def reset(self, rng: jax.Array) -> State:
        """Starts `num_envs` episodes; every leaf of the returned state has leading dim `num_envs`.

        The first episodes start at random steps so that episode ends are spread over time.
        """
        rng, step_rng = jax.random.split(rng)
        state = jax.vmap(self._reset_one)(jax.random.split(rng, self.num_envs))
        steps = jax.random.randint(step_rng, (self.num_envs,), 0, self.config.episode_length)
        info = dict(state.info, steps=steps)
        return state.replace(obs=jax.vmap(self._obs)(info), info=info)

    def step(self, state: State, action: jax.Array) -> State:
        """Advances all envs by one control step with raw actions [num_envs, 4]; done envs auto-reset."""
        return jax.vmap(self._step_one)(state, action)
