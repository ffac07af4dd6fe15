"""Deterministic evaluation rollouts of a policy over every clip of a motion library, on two simulators.

Robot i follows clip i from its first frame to its last (reference-state initialisation at frame 0, the nominal
robot: no randomisation, pushes, action delay or observation noise). Every step of every robot runs inside one
jitted `lax.scan` made of the environment's own `observe`, `reward_terms` and `failures` and the physics back end's
step (`physics_backends`: 'mjx' traced into the program, or 'mujoco', C MuJoCo on a thread pool through a host
callback), the same code the training env runs.

The motion library may be swapped for one of the same shapes, e.g. with corrupted `goal_keypoints` (what the
policy is asked to reach) but the clean reference frames the robot is scored and terminated against.
"""

from __future__ import annotations

import copy
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from genmimic_jax.envs import observations
from genmimic_jax.envs import physics as physics_lib
from genmimic_jax.envs import physics_backends
from genmimic_jax.envs import randomization
from genmimic_jax.envs.motion_lib import MotionLib
from genmimic_jax.envs.tracking import FAILURES, TrackingEnv
from genmimic_jax.rl.policy import Policy
from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model

BACKENDS = physics_backends.BACKENDS


@dataclasses.dataclass(frozen=True)
class Rollout:
    """What happened to every robot (numpy arrays; N clips, T = longest clip, F = len(FAILURES)).

    Frame t of a clip is the state after t control steps; entries past a clip's end or its failure are padding.

    Attributes:
      qpos: [N, T, 36] simulated qpos; frame 0 is the reference's first frame.
      keypoints: [N, T, K, 3] simulated keypoint positions.
      obs: [N, T - 1, D] the observations the policy acted on.
      actions: [N, T - 1, 29] raw policy actions.
      reward: [N, T - 1] the environment's weighted reward per step.
      failures: [N, T - 1, F] the failure conditions (`FAILURES` order) after each step.
      lengths: [N] frames of each clip.
    """

    qpos: np.ndarray
    keypoints: np.ndarray
    obs: np.ndarray
    actions: np.ndarray
    reward: np.ndarray
    failures: np.ndarray
    lengths: np.ndarray

    @property
    def failed_at(self) -> np.ndarray:
        """[N] the first frame judged a failure, or -1 when the clip was followed to its end."""
        steps = np.arange(self.failures.shape[1])
        within = steps[None, :] < (self.lengths[:, None] - 1)
        failed = self.failures.any(axis=-1) & within
        return np.where(failed.any(axis=1), np.argmax(failed, axis=1) + 1, -1)

    def failure_kinds(self) -> list[str]:
        """The failure condition(s) that ended each clip ('' for none), e.g. 'fall+keypoint_error'."""
        out = []
        for n, frame in enumerate(self.failed_at):
            out.append("" if frame < 0 else "+".join(k for k, hit in zip(FAILURES, self.failures[n, frame - 1]) if hit))
        return out

    def last_frame(self) -> np.ndarray:
        """[N] the last frame each clip is scored on: its failure frame or its end."""
        return np.where(self.failed_at >= 0, self.failed_at, self.lengths - 1)


class Evaluator:
    """Runs deterministic evaluation rollouts of one policy in one environment on a chosen back end.

    The jitted rollout is built once and takes the motion library and the policy as arguments, so evaluating again
    with other goal keypoints of the same shapes (the noise suite) or another checkpoint of the same architecture
    does not compile again.

    Args:
      env: the tracking environment; its motion library is the reference (one robot per clip).
      policy: the policy rolled out by default; it reads observation `policy.obs_key`.
      backend: 'mjx' or 'mujoco'.
      threads: C MuJoCo back end: rollout threads.
    """

    def __init__(self, env: TrackingEnv, policy: Policy, backend: str = "mujoco", threads: int = 2):
        if backend not in BACKENDS:
            raise ValueError(f"unknown back end {backend!r}; expected one of {BACKENDS}")
        self.env, self.policy = env, self._checked(env, policy)
        self.backend, self.threads = backend, threads
        self._params = randomization.nominal_params(env.nominal)
        self._clips = jnp.arange(env.motion_lib.num_clips)
        self._initial = jax.vmap(self._initial_one, in_axes=(None, 0))
        self._judge = jax.vmap(self._judge_one, in_axes=(None, 0, 0, 0, 0, 0, 0))
        self._targets = jax.vmap(lambda lib, action, clip, frame: self._with_lib(lib).joint_targets(action, clip, frame),
                                 in_axes=(None, 0, 0, 0))
        self._simulator = physics_backends.make(backend, g1_model.load_spec(scene=True), env.config.substeps,
                                                threads)
        self._run = jax.jit(self._scan)

    def __call__(self, lib: MotionLib | None = None, policy: Policy | None = None) -> Rollout:
        """Rolls every clip out, in the environment's motion library or in `lib` (same clips and shapes), with the
        evaluator's policy or with `policy`."""
        own = self.env.motion_lib
        lib = own if lib is None else lib
        if jax.tree.structure(lib) != jax.tree.structure(own) or any(
                a.shape != b.shape for a, b in zip(jax.tree.leaves(lib), jax.tree.leaves(own))):
            raise ValueError("the motion library must have the environment library's clips and shapes")
        policy = self.policy if policy is None else self._checked(self.env, policy)
        physics0, outputs = self._run(lib, policy)
        return _assemble(physics0, *outputs, lib)

    @staticmethod
    def _checked(env: TrackingEnv, policy: Policy) -> Policy:
        if policy.obs_key not in env.observation_size:
            raise ValueError(f"the policy reads observation {policy.obs_key!r}, the env has "
                             f"{sorted(env.observation_size)}")
        return policy

    def close(self) -> None:
        """Stops the C MuJoCo back end's thread pool; the evaluator cannot run after."""
        if isinstance(self._simulator, physics_backends.MujocoBackend):
            self._simulator.close()

    def _with_lib(self, lib: MotionLib) -> TrackingEnv:
        view = copy.copy(self.env)
        view.motion_lib = lib
        return view

    def _initial_one(self, lib: MotionLib, clip: jax.Array):
        """Physical state, observations and history of a robot standing on frame 0 of `clip` (as env.reset)."""
        physics = physics_lib.from_reference(lib.frame(clip, 0))
        last_action = jnp.zeros(constants.NUM_JOINTS)
        proprio = observations.proprio_layout().assemble(observations.proprioception(physics, last_action))
        history = jnp.tile(proprio[None], (self.env.config.history_length, 1))
        obs, history = self._with_lib(lib).observe(physics, clip, jnp.zeros((), jnp.int32), last_action, history,
                                                   self._params)
        return physics, obs, history

    def _judge_one(self, lib: MotionLib, physics, clip, frame, action, last_action, history):
        """Failures [F], weighted reward and the next observations after a step that reached `frame` (as env.step)."""
        env = self._with_lib(lib)
        failures = env.failures(physics, clip, frame)
        failed = jnp.any(jnp.stack([failures[kind] for kind in FAILURES]))
        terms = env.reward_terms(physics, clip, frame, action, last_action, failed)
        weights = env.config.reward.weights
        reward = sum(env.config.ctrl_dt * weights[term] * value for term, value in terms.items())
        obs, history = env.observe(physics, clip, frame, action, history, self._params)
        return jnp.stack([failures[kind] for kind in FAILURES]), reward, obs, history

    def _scan(self, lib: MotionLib, policy: Policy):
        clips, simulator, act, obs_key = self._clips, self._simulator, policy.inference_fn(), policy.obs_key
        physics, obs, history = self._initial(lib, clips)
        first = lib.frame(clips, jnp.zeros_like(clips))
        sim_state = jax.vmap(simulator.init)(first.qpos, first.qvel, first.qpos[:, 7:])

        def step(carry, t):
            sim_state, obs, history, last_action = carry
            action = act(obs[obs_key])
            frame = jnp.full(clips.shape, t + 1, jnp.int32)
            targets = self._targets(lib, action, clips, frame)
            sim_state, physics = simulator.step(sim_state, targets, None)
            failures, reward, next_obs, history = self._judge(lib, physics, clips, frame, action, last_action,
                                                              history)
            out = (physics.qpos, physics.keypoints, obs[obs_key], action, reward, failures)
            return (sim_state, next_obs, history, action), out

        carry = (sim_state, obs, history, jnp.zeros((clips.shape[0], constants.NUM_JOINTS)))
        _, outputs = jax.lax.scan(step, carry, jnp.arange(lib.max_length - 1))
        return physics, outputs


def _assemble(physics0, qpos, keypoints, obs, actions, reward, failures, lib: MotionLib) -> Rollout:
    """Time-major step outputs ([T - 1, N, ...]) and the initial state as a clip-major `Rollout`."""
    def clip_major(first, rest):
        return np.concatenate([np.asarray(first)[:, None], np.swapaxes(np.asarray(rest), 0, 1)], axis=1)

    return Rollout(qpos=clip_major(physics0.qpos, qpos), keypoints=clip_major(physics0.keypoints, keypoints),
                   obs=np.swapaxes(np.asarray(obs), 0, 1), actions=np.swapaxes(np.asarray(actions), 0, 1),
                   reward=np.swapaxes(np.asarray(reward), 0, 1), failures=np.swapaxes(np.asarray(failures), 0, 1),
                   lengths=np.asarray(lib.lengths))
