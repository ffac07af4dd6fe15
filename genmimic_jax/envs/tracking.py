"""The batched G1 motion-tracking environment, conditioned on 3D goal keypoints.

`TrackingEnv(config, motion_lib)` runs `config.num_envs` G1s, each following a reference clip from its motion
library. `reset(rng)` and `step(state, action)` are pure functions over a `brax.envs.base.State` whose leaves all
have a leading `num_envs` axis; finished environments restart inside `step` from a reference-state initialisation.
Control is at 1 / ctrl_dt Hz over `substeps` physics steps of the configured back end (`config.physics`: MJX or C
MuJoCo, `physics_backends`); the action a [29] sets position-servo targets DEFAULT_POSE + ACTION_SCALE * a (after
the environment's action delay; or, with `action_offset='reference'`, the reference joints + ACTION_SCALE * a).
`default_config()` holds every knob.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from brax.envs.base import State

from genmimic_jax.envs import observations
from genmimic_jax.envs import physics as physics_lib
from genmimic_jax.envs import physics_backends
from genmimic_jax.envs import randomization
from genmimic_jax.envs import rewards
from genmimic_jax.envs import terminations
from genmimic_jax.envs.mirror import MirrorMap
from genmimic_jax.envs.motion_lib import MotionLib
from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model

FAILURES = ("fall", "keypoint_error", "anchor_error", "end_effector_height", "nan")
ACTION_OFFSETS = ("default_pose", "reference")
SAMPLINGS = ("uniform", "adaptive", "adaptive_per_clip")
DRIFT_ORIGINS = ("clip", "episode")
# Per-episode info that a restart replaces; goal_bone_factors and goal_wobble exist only when their noise is on.
_EPISODE_KEYS = ("clip", "frame", "steps", "last_action", "action_buffer", "history", "params", "push_countdown",
                 "goal_drift", "goal_bone_factors", "goal_wobble")
GOAL_WOBBLE_TIME = 1.0  # s, correlation time of `noise.goal_wobble`


def default_config() -> ml_collections.ConfigDict:
    """Every knob of the tracking environment; an ablation is a change here."""
    config = ml_collections.ConfigDict()
    config.num_envs = 1024
    config.physics = "auto"  # 'mjx' | 'mujoco' | 'auto': MJX with an accelerator, C MuJoCo on a CPU
    config.physics_threads = 0  # C MuJoCo worker threads; 0: every core
    config.ctrl_dt = 0.02  # 50 Hz control
    config.substeps = 4  # physics steps per control step (ctrl_dt / model timestep)
    config.episode_length = 500  # control steps; an episode also ends at the end of its clip
    config.history_length = 5  # past proprio frames in the actor observation
    config.goal_offsets = (0, 1, 2, 5, 10)  # goal keypoint frames, in control steps ahead of the current one
    # Servo targets = offset + ACTION_SCALE * action; the offset is the default pose ('default_pose') or the
    # reference's joint positions at the frame the step reaches ('reference': a = 0 plays the clip back).
    config.action_offset = "default_pose"
    # The actor also observes its root's linear velocity (body frame), which the G1 does not measure: on the robot a
    # state estimator must give it (noise.base_lin_vel stands for the estimator's error). Privileged always has it.
    config.actor_base_lin_vel = False

    config.motion = ml_collections.ConfigDict()
    # "uniform", "adaptive" (per-bin failure counts, pooled over the set) or "adaptive_per_clip" (each clip keeps
    # its weight's share of the starts, its failing bins share them)
    config.motion.sampling = "adaptive"
    config.motion.bin_seconds = 1.0
    config.motion.uniform_ratio = 0.1  # share of adaptive starts drawn from the clip weights
    # adaptive_per_clip: the part of each clip's share that follows its failure count instead of its weight (0: each
    # clip keeps its weight's share; 1: as "adaptive"), so that clips still failing draw more starts
    config.motion.clip_failure_share = 0.0
    # Each clip's weight (its share of the starts) is its frame count to this power: 0 every clip alike, 1 every frame
    # alike (a 60 s clip then draws 60x the starts of a 1 s one instead of as many)
    config.motion.clip_duration_power = 0.0
    config.motion.failure_decay = 0.999  # per control step decay of the failure counts
    # Share of fresh starts moved to their clip's first frame, where an evaluation and the robot begin every clip
    # (a walk's start from standing is otherwise drawn once in a bin's worth of frames); 0: off.
    config.motion.first_frame_share = 0.0

    # Every term's weight (reward.weights.<term>) and parameters (reward.params.<term>.<name>): `rewards.TERMS`.
    config.reward = rewards.default_config()
    # GenMimic's keypoint weighting: end effectors > upper body > lower body (constants.KEYPOINT_GROUPS).
    config.reward.keypoint_group_weights = ml_collections.ConfigDict({
        "end_effector": 2.0, "upper": 1.0, "lower": 0.5})

    config.termination = termination_config()

    # Uniform noise U(-s, s) on the actor's observation (the privileged observation stays clean).
    config.noise = ml_collections.ConfigDict()
    config.noise.projected_gravity = 0.05
    config.noise.base_ang_vel = 0.2
    config.noise.joint_pos = 0.01
    config.noise.joint_vel = 0.5
    config.noise.goal_keypoints = 0.02  # m
    config.noise.base_lin_vel = 0.1  # m/s, with actor_base_lin_vel
    # The actor's goal keypoints slide horizontally at a speed drawn per episode from U(0, s) m/s in a random
    # direction (the noise suite's `drift`, a generated video's camera drift); 0: off.
    config.noise.goal_drift_speed = 0.0
    # Where the slide starts: 'episode', at the episode's start; 'clip', at the clip's first frame as the noise suite's
    # and a video's drift do, so that an episode started late in a clip begins with the offset gathered by then (two
    # students: less of the suite's drift followed, but 6 and 5 of their teacher's 7 clips clean; RESULTS.md).
    config.noise.goal_drift_origin = "episode"
    # The actor's goal body is wrongly proportioned: each bone scaled by its own factor 1 + N(0, s), drawn per
    # episode (the noise suite's `limb_length`, a generated video's body-shape error); 0: off.
    config.noise.goal_bone_scale = 0.0
    # The actor's goals wander horizontally by an offset of this std (m) that varies over GOAL_WOBBLE_TIME (the noise
    # suite's `depth_error` moves the whole body so); 0: off.
    config.noise.goal_wobble = 0.0

    config.randomization = ml_collections.ConfigDict()
    config.randomization.enabled = True  # per-env physics parameters; False runs the nominal model
    config.randomization.friction_range = (0.5, 1.25)
    config.randomization.mass_scale_range = (0.9, 1.1)
    config.randomization.com_offset = 0.03  # m, torso centre of mass, per axis
    config.randomization.armature_scale_range = (0.8, 1.2)
    config.randomization.kp_scale_range = (0.9, 1.1)
    config.randomization.kd_scale_range = (0.9, 1.1)
    config.randomization.strength_range = (0.9, 1.1)
    config.randomization.max_action_delay = 1  # control steps, drawn per episode in [0, max]

    config.push = ml_collections.ConfigDict()
    config.push.enabled = True
    config.push.interval_range = (1.0, 3.0)  # s between kicks
    config.push.linear_velocity = 0.5  # m/s, horizontal, per axis
    config.push.angular_velocity = 0.5  # rad/s, yaw rate
    return config


def termination_config() -> ml_collections.ConfigDict:
    """Failure thresholds (`terminations`; 0 turns a condition off). These defaults are also evaluation's
    success criterion, whatever a run trained with."""
    config = ml_collections.ConfigDict()
    config.max_gravity_error = 0.8  # |projected gravity z - reference's|
    config.max_height_error = 0.25  # m, root height from the reference's
    config.max_keypoint_error = 0.3  # m, mean world keypoint distance
    config.max_anchor_error = 0.5  # m, root distance
    config.max_end_effector_height_error = 0.0  # m, largest end-effector height miss
    return config


class TrackingEnv:
    """Batched G1 tracking (see the module docstring).

    Attributes:
      obs_layout: {'actor': ObsLayout, 'privileged': ObsLayout}, the block layout of each observation.
      observation_size: {'actor': A, 'privileged': P}.
      action_size: 29.
      mirror_maps: {'actor', 'privileged', 'action'} -> MirrorMap.
      num_envs: batch size.
    """

    action_size = constants.NUM_JOINTS

    def __init__(self, config: ml_collections.ConfigDict, motion_lib: MotionLib):
        self.config = config
        self.num_envs = int(config.num_envs)
        self.motion_lib = motion_lib
        if abs(motion_lib.fps * config.ctrl_dt - 1.0) > 1e-6:
            raise ValueError(f"the motion library runs at {motion_lib.fps} fps, the control rate is "
                             f"{1.0 / config.ctrl_dt} Hz; build it with fps=1/ctrl_dt")
        if config.action_offset not in ACTION_OFFSETS:
            raise ValueError(f"config.action_offset must be one of {ACTION_OFFSETS}, got {config.action_offset!r}")
        if config.motion.sampling not in SAMPLINGS:
            raise ValueError(f"config.motion.sampling must be one of {SAMPLINGS}, got {config.motion.sampling!r}")
        if config.noise.goal_drift_origin not in DRIFT_ORIGINS:
            raise ValueError(f"config.noise.goal_drift_origin must be one of {DRIFT_ORIGINS}, got "
                             f"{config.noise.goal_drift_origin!r}")
        spec = g1_model.load_spec(scene=True)
        if abs(config.substeps * spec.option.timestep - config.ctrl_dt) > 1e-9:
            raise ValueError(f"substeps * timestep = {config.substeps} * {spec.option.timestep} is not ctrl_dt "
                             f"{config.ctrl_dt}")
        self.simulator = physics_backends.make(config.physics, spec, config.substeps, config.physics_threads)
        self.nominal = randomization.Nominal.from_model(self.simulator.mj_model)
        self.goal_offsets = observations.goal_frames(config.goal_offsets)
        self.keypoint_weights = rewards.keypoint_weights(config.reward.keypoint_group_weights)
        self.obs_layout = {
            "actor": observations.actor_layout(config.history_length, len(self.goal_offsets),
                                               config.actor_base_lin_vel),
            "privileged": observations.privileged_layout(len(self.goal_offsets),
                                                         randomization.mirror_map(self.nominal)),
        }
        self.observation_size = {name: layout.size for name, layout in self.obs_layout.items()}
        self.mirror_maps = {
            "actor": self.obs_layout["actor"].mirror_map,
            "privileged": self.obs_layout["privileged"].mirror_map,
            "action": MirrorMap(perm=constants.JOINT_MIRROR_INDEX, sign=constants.JOINT_MIRROR_SIGN),
        }
        proprio = observations.proprio_layout()
        self._proprio_noise = np.concatenate([
            np.full(block.size, config.noise.get(block.name, 0.0), np.float32) for block in proprio.blocks])
        self._max_delay = int(config.randomization.max_action_delay) if config.randomization.enabled else 0

    # ----------------------------------------------------------------------------------------------- public API

    def reset(self, rng: jax.Array) -> State:
        """Starts `num_envs` episodes from reference states."""
        fail_counts = jnp.zeros(self.motion_lib.num_bins)
        rng, start_rng = jax.vmap(jax.random.split, out_axes=1)(jax.random.split(rng, self.num_envs))
        data, physics, episode = jax.vmap(self._start_one, in_axes=(0, None))(start_rng,
                                                                             self._start_distribution(fail_counts))
        zeros = jnp.zeros(self.num_envs)
        metrics = {f"reward/{term}": zeros for term in rewards.TERMS}
        metrics.update({f"termination/{kind}": zeros for kind in FAILURES})
        metrics.update(keypoint_error=zeros, episode_length=zeros)
        info = dict(episode, rng=rng, truncation=zeros, fail_counts=self._spread(fail_counts))
        return self._observed(State(pipeline_state=data, obs={}, reward=zeros, done=zeros, metrics=metrics,
                                    info=info), physics)

    def step(self, state: State, action: jax.Array) -> State:
        """Advances every environment one control step with raw actions [num_envs, 29]; done ones restart.

        A finished environment reports this step's reward, done, truncation and metrics, and carries the
        observation and info of its fresh episode.
        """
        num_bins = self.motion_lib.num_bins
        data, targets, fields, info = jax.vmap(self._act_one)(state, action)
        data, simulated = self.simulator.step(data, targets, fields)
        stepped, physics, fail_bin, restart_rng = jax.vmap(self._judge_one)(state.replace(pipeline_state=data, info=info),
                                                                            action, simulated)
        new_failures = jax.ops.segment_sum(jnp.ones_like(fail_bin, jnp.float32), fail_bin, num_bins + 1)[:num_bins]
        # Fresh starts sample from the updated table.
        fail_counts = self.config.motion.failure_decay * self._gather(state.info["fail_counts"]) + new_failures
        done = stepped.done > 0
        episode = {key: stepped.info[key] for key in _EPISODE_KEYS if key in stepped.info}
        current = (stepped.pipeline_state, physics, episode)

        def restart(current):
            starts = jax.vmap(self._start_one, in_axes=(0, None))(restart_rng, self._start_distribution(fail_counts))
            return _select(done, starts, current)

        # Skipped on steps where no env finished (frequent at small batch sizes).
        data, physics, episode = jax.lax.cond(jnp.any(done), restart, lambda current: current, current)
        info = dict(stepped.info, fail_counts=self._spread(fail_counts), **episode)
        return self._observed(stepped.replace(pipeline_state=data, info=info), physics)

    def joint_targets(self, action: jax.Array, clip: jax.Array, frame: jax.Array) -> jax.Array:
        """Servo targets [29] of one robot's raw action when the step reaches reference frame `frame` of `clip`."""
        if self.config.action_offset == "reference":
            return self.motion_lib.frame(clip, frame).qpos[7:] + constants.ACTION_SCALE * action
        return constants.DEFAULT_POSE + constants.ACTION_SCALE * action

    def observe(self, physics: physics_lib.PhysicsState, clip: jax.Array, frame: jax.Array, last_action: jax.Array,
                history: jax.Array, params: randomization.PhysicsParams,
                noise_rng: jax.Array | None = None, goal_shift: jax.Array | None = None,
                goal_bone_factors: jax.Array | None = None) -> tuple[dict[str, jax.Array], jax.Array]:
        """Observations of one robot at reference frame `frame` of `clip`, and the history to carry on.

        Args:
          physics: the robot's state.
          clip, frame: where in the motion library the robot is.
          last_action: the previous raw action [29].
          history: [history_length, proprio size] past noisy proprio vectors, most recent first.
          params: the environment's physics parameters (privileged).
          noise_rng: key for the actor's observation noise; None for noise-free observations.
          goal_shift: [3] world offset added to the actor's goal keypoints with the noise (their drift so far).
          goal_bone_factors: [K] scales of the actor's goal bones, applied with the noise (`scale_bones`).

        Returns:
          {'actor': [A], 'privileged': [P]} and the history with this step's proprio pushed in front.
        """
        lib = self.motion_lib
        ref = lib.frame(clip, frame)
        goal = observations.goal_keypoints(physics, lib.goals(clip, frame + self.goal_offsets))
        proprio = observations.proprioception(physics, last_action)
        proprio_vec = observations.proprio_layout().assemble(proprio)
        noisy_proprio, noisy_goal = proprio_vec, goal
        velocity = {"base_lin_vel": observations.base_lin_vel(physics)} if self.config.actor_base_lin_vel else {}
        if noise_rng is not None:
            if velocity:  # a key split only then, so runs without the block keep their samples
                noise_rng, velocity_rng = jax.random.split(noise_rng)
                velocity["base_lin_vel"] += self.config.noise.base_lin_vel * jax.random.uniform(
                    velocity_rng, (3,), minval=-1.0, maxval=1.0)
            proprio_rng, goal_rng = jax.random.split(noise_rng)
            noisy_proprio = proprio_vec + self._proprio_noise * jax.random.uniform(
                proprio_rng, proprio_vec.shape, minval=-1.0, maxval=1.0)
            if goal_bone_factors is not None:
                noisy_goal = observations.scale_bones(noisy_goal, goal_bone_factors)
            noisy_goal = noisy_goal + self.config.noise.goal_keypoints * jax.random.uniform(
                goal_rng, goal.shape, minval=-1.0, maxval=1.0)
            if goal_shift is not None:
                noisy_goal = noisy_goal + observations.to_heading(goal_shift, physics.qpos[3:7])
        actor_values = dict(zip(observations.PROPRIO_BLOCKS, jnp.split(
            noisy_proprio, np.cumsum([b.size for b in observations.proprio_layout().blocks])[:-1])))
        actor = self.obs_layout["actor"].assemble(
            dict(actor_values, proprio_history=history, goal_keypoints=noisy_goal, **velocity))
        privileged = self.obs_layout["privileged"].assemble(dict(
            proprio, goal_keypoints=goal, physics_params=params.vector(),
            **observations.privileged_state(physics, ref, lib.frame(clip, frame + 1))))
        history = jnp.concatenate([noisy_proprio[None], history[:-1]])
        return {"actor": actor, "privileged": privileged}, history

    def reward_terms(self, physics: physics_lib.PhysicsState, clip: jax.Array, frame: jax.Array,
                     action: jax.Array, last_action: jax.Array, failed: jax.Array) -> dict[str, jax.Array]:
        """The unweighted reward terms of one robot at reference frame `frame` of `clip`."""
        ctx = rewards.StepContext(physics=physics, ref=self.motion_lib.frame(clip, frame), action=action,
                                  last_action=last_action, failed=failed,
                                  keypoint_weights=jnp.asarray(self.keypoint_weights))
        return rewards.compute_terms(ctx, self.config.reward)

    def failures(self, physics: physics_lib.PhysicsState, clip: jax.Array, frame: jax.Array) -> dict[str, jax.Array]:
        """The failure conditions of one robot (NaN included) at reference frame `frame` of `clip`."""
        failed = terminations.compute_failures(physics, self.motion_lib.frame(clip, frame), self.config)
        return dict(failed, nan=~physics_lib.is_finite(physics))

    # --------------------------------------------------------------------------------------------- one env

    def _spread(self, fail_counts: jax.Array) -> jax.Array:
        """The failure table [num_bins] as a state leaf [num_envs, ceil(num_bins / num_envs)]: every state leaf has
        the env axis (so a sharded run splits it like the rest), and each env holds one slice of the one table."""
        per_env = -(-fail_counts.shape[0] // self.num_envs)
        return jnp.pad(fail_counts, (0, per_env * self.num_envs - fail_counts.shape[0])).reshape(self.num_envs, -1)

    def _gather(self, spread: jax.Array) -> jax.Array:
        """The failure table [num_bins] from its state leaf (`_spread`)."""
        return spread.reshape(-1)[:self.motion_lib.num_bins]

    def _start_distribution(self, fail_counts: jax.Array) -> jax.Array | None:
        """What every restart of this step samples from (None for uniform starts)."""
        if self.config.motion.sampling == "uniform":
            return None
        failure_share = (self.config.motion.clip_failure_share if self.config.motion.sampling == "adaptive_per_clip"
                         else 1.0)
        return self.motion_lib.start_distribution(fail_counts, self.config.motion.uniform_ratio, failure_share)

    def _start_one(self, rng: jax.Array, distribution: jax.Array | None):
        """A fresh episode on a reference state: its MJX data, physics and episode info."""
        cfg = self.config
        start_rng, param_rng, push_rng = jax.random.split(rng, 3)
        share = cfg.motion.first_frame_share
        clip, frame = (self.motion_lib.sample_uniform(start_rng, share) if distribution is None
                       else self.motion_lib.sample_start(start_rng, distribution, share))
        goal_drift = jnp.zeros(3)
        if cfg.noise.goal_drift_speed > 0:  # keys split only then, so runs without drift keep their samples
            param_rng, drift_rng = jax.random.split(param_rng)
            goal_drift = _horizontal_velocity(drift_rng, cfg.noise.goal_drift_speed)
        extra = {}
        if cfg.noise.goal_bone_scale > 0:  # likewise; and only then a state leaf, so older runs still resume
            param_rng, bone_rng = jax.random.split(param_rng)
            extra["goal_bone_factors"] = jnp.maximum(
                1.0 + cfg.noise.goal_bone_scale * jax.random.normal(bone_rng, (len(constants.KEYPOINT_NAMES),)), 0.2)
        if cfg.noise.goal_wobble > 0:
            param_rng, wobble_rng = jax.random.split(param_rng)
            extra["goal_wobble"] = _horizontal_normal(wobble_rng, cfg.noise.goal_wobble)
        params = (randomization.sample_params(param_rng, self.nominal, cfg) if cfg.randomization.enabled
                  else randomization.nominal_params(self.nominal))
        ref = self.motion_lib.frame(clip, frame)
        data = self.simulator.init(ref.qpos, ref.qvel, ref.qpos[7:])
        physics = physics_lib.from_reference(ref)
        last_action = jnp.zeros(self.action_size)
        proprio = observations.proprio_layout().assemble(observations.proprioception(physics, last_action))
        episode = {
            "clip": clip,
            "frame": frame,
            "steps": jnp.zeros((), jnp.int32),
            "last_action": last_action,
            "action_buffer": jnp.zeros((self._max_delay + 1, self.action_size)),
            "history": jnp.tile(proprio[None], (cfg.history_length, 1)),
            "params": params,
            "push_countdown": self._push_interval(push_rng),
            "goal_drift": goal_drift,
            **extra,
        }
        return data, physics, episode

    def _observed(self, state: State, physics: physics_lib.PhysicsState) -> State:
        """`state` with the observations of `physics` and the history advanced (all envs)."""
        info = state.info
        rng, noise_rng = jax.vmap(jax.random.split, out_axes=1)(info["rng"])
        drifting = info["frame"] if self.config.noise.goal_drift_origin == "clip" else info["steps"]
        goal_shift = info["goal_drift"] * (drifting * self.config.ctrl_dt)[:, None]
        wobble = {}
        if "goal_wobble" in info:  # an Ornstein-Uhlenbeck step, so its std stays goal_wobble
            noise_rng, wobble_rng = jax.vmap(jax.random.split, out_axes=1)(noise_rng)
            decay = np.exp(-self.config.ctrl_dt / GOAL_WOBBLE_TIME)
            fresh = jax.vmap(_horizontal_normal, in_axes=(0, None))(wobble_rng, self.config.noise.goal_wobble)
            wobble["goal_wobble"] = decay * info["goal_wobble"] + np.sqrt(1.0 - decay**2) * fresh
            goal_shift = goal_shift + wobble["goal_wobble"]
        obs, history = jax.vmap(self.observe)(physics, info["clip"], info["frame"], info["last_action"],
                                              info["history"], info["params"], noise_rng, goal_shift,
                                              info.get("goal_bone_factors"))
        return state.replace(obs=obs, info=dict(info, rng=rng, history=history, **wobble))

    def _push_interval(self, rng: jax.Array) -> jax.Array:
        low, high = self.config.push.interval_range
        return jax.random.randint(rng, (), int(round(low / self.config.ctrl_dt)),
                                  int(round(high / self.config.ctrl_dt)) + 1)

    def _push(self, rng: jax.Array, data, countdown: jax.Array):
        """Kicks the base (random horizontal and yaw velocity) when the countdown runs out."""
        push = self.config.push
        if not push.enabled:
            return data, countdown
        kick_rng, interval_rng = jax.random.split(rng)
        limits = jnp.array([push.linear_velocity, push.linear_velocity, push.angular_velocity])
        kick = jax.random.uniform(kick_rng, (3,), minval=-1.0, maxval=1.0) * limits
        due = countdown <= 0
        qvel = data.qvel.at[jnp.array([0, 1, 5])].add(due * kick)
        countdown = jnp.where(due, self._push_interval(interval_rng), countdown - 1)
        return data.replace(qvel=qvel), countdown

    def _act_one(self, state: State, action: jax.Array):
        """One env's action on the physics: its (pushed) simulator state, servo targets, model fields (None without
        randomisation) and the info after the action (delay buffer, push countdown, frame reached)."""
        cfg, info = self.config, state.info
        rng, push_rng = jax.random.split(info["rng"])
        params = info["params"]
        buffer = jnp.concatenate([action[None], info["action_buffer"][:-1]])
        fields = randomization.model_fields(self.nominal, params) if cfg.randomization.enabled else None
        data, push_countdown = self._push(push_rng, state.pipeline_state, info["push_countdown"])
        frame = info["frame"] + 1
        targets = self.joint_targets(buffer[params.action_delay], info["clip"], frame)
        return data, targets, fields, dict(info, rng=rng, frame=frame, action_buffer=buffer,
                                           push_countdown=push_countdown)

    def _judge_one(self, state: State, action: jax.Array, simulated: physics_lib.PhysicsState):
        """One env's control step after the physics, without observations or restart.

        Returns the stepped state (obs unchanged), its physics, the failure-table bin of a failure (num_bins if
        none) and a key for a restart.
        """
        cfg, lib = self.config, self.motion_lib
        info = state.info
        rng, restart_rng = jax.random.split(info["rng"])
        clip, frame = info["clip"], info["frame"]
        ref = lib.frame(clip, frame)
        finite = physics_lib.is_finite(simulated)
        # A blown-up simulation is judged on the reference instead, so that no NaN leaves this env.
        physics = jax.tree.map(lambda sim, safe: jnp.where(finite, sim, safe), simulated,
                               physics_lib.from_reference(ref))
        failures = dict(terminations.compute_failures(physics, ref, cfg), nan=~finite)
        failed = jnp.any(jnp.stack(list(failures.values())))
        steps = info["steps"] + 1
        truncated = ((frame >= lib.lengths[clip] - 1) | (steps >= cfg.episode_length)) & ~failed
        terms = self.reward_terms(physics, clip, frame, action, info["last_action"], failed)
        weighted = {term: cfg.ctrl_dt * cfg.reward.weights[term] * value for term, value in terms.items()}

        metrics = {f"reward/{term}": value for term, value in weighted.items()}
        metrics.update({f"termination/{kind}": value.astype(jnp.float32) for kind, value in failures.items()})
        metrics.update(keypoint_error=terminations.mean_keypoint_error(physics, ref),
                       episode_length=steps.astype(jnp.float32))
        info = dict(info, rng=rng, steps=steps, truncation=truncated.astype(jnp.float32), last_action=action)
        state = state.replace(reward=sum(weighted.values()),
                              done=(failed | truncated).astype(jnp.float32), metrics=metrics, info=info)
        fail_bin = jnp.where(failed, lib.bin_index(clip, frame), lib.num_bins)
        return state, physics, fail_bin, restart_rng


def _select(mask: jax.Array, on_true, on_false):
    """Per-env `where` over matching pytrees with leading batch axis."""
    def where(a, b):
        return jnp.where(jnp.reshape(mask, mask.shape + (1,) * (a.ndim - 1)), a, b)
    return jax.tree.map(where, on_true, on_false)


def _horizontal_normal(rng: jax.Array, std: float) -> jax.Array:
    """A world vector [3] with horizontal components N(0, std^2) and no vertical one."""
    return jnp.concatenate([std * jax.random.normal(rng, (2,)), jnp.zeros(1)])


def _horizontal_velocity(rng: jax.Array, max_speed: float) -> jax.Array:
    """A world velocity [3] of speed U(0, max_speed) in a uniformly random horizontal direction."""
    speed_rng, angle_rng = jax.random.split(rng)
    speed = jax.random.uniform(speed_rng, (), maxval=max_speed)
    angle = jax.random.uniform(angle_rng, (), maxval=2.0 * jnp.pi)
    return speed * jnp.array([jnp.cos(angle), jnp.sin(angle), 0.0])
