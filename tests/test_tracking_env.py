"""Tests of the batched G1 tracking environment (one compiled reset/step shared by all tests; the CPU's default
physics back end, C MuJoCo)."""

import jax
import jax.numpy as jnp
import ml_collections
import mujoco
import numpy as np
import pytest
from brax import math as brax_math
from mujoco import mjx

from genmimic_jax.envs import tracking as tracking_config
from genmimic_jax.envs import physics as physics_lib
from genmimic_jax.envs import observations, randomization, rewards, synthetic_motion, terminations
from genmimic_jax.envs.motion_lib import MotionLib
from genmimic_jax.envs.tracking import FAILURES, TrackingEnv
from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model

NUM_ENVS = 4


@pytest.fixture(scope="module")
def env() -> TrackingEnv:
    lib = MotionLib.from_clips([synthetic_motion.synthetic_motion(duration=2.0, yaw=0.5)])
    config = tracking_config.default_config()
    config.num_envs = NUM_ENVS
    return TrackingEnv(config, lib)


@pytest.fixture(scope="module")
def fns(env):
    return jax.jit(env.reset), jax.jit(env.step)


@pytest.fixture(scope="module")
def first(fns):
    reset, _ = fns
    return reset(jax.random.PRNGKey(0))


def _set_env(state, i: int, **qpos_qvel):
    data = state.pipeline_state
    updates = {name: getattr(data, name).at[i].set(value) for name, value in qpos_qvel.items()}
    return state.replace(pipeline_state=data.replace(**updates))


def _avals(tree):
    return jax.tree.map(lambda x: (x.shape, x.dtype, jax.typeof(x).weak_type), tree)


def test_reset_and_step_keep_the_state_layout(env, fns, first):
    _, step = fns
    state = step(first, jnp.zeros((NUM_ENVS, env.action_size)))
    assert _avals(state) == _avals(first)  # a lax.scan over steps needs the same carry type
    for kind, size in env.observation_size.items():
        assert state.obs[kind].shape == (NUM_ENVS, size)
        assert env.obs_layout[kind].size == size
    assert {f"reward/{term}" for term in rewards.TERMS} <= set(state.metrics)
    total = sum(state.metrics[f"reward/{term}"] for term in rewards.TERMS)
    np.testing.assert_allclose(np.asarray(total), np.asarray(state.reward), rtol=1e-5, atol=1e-7)
    assert np.all(np.asarray(state.done) == 0)
    np.testing.assert_array_equal(np.asarray(state.info["steps"]), 1)
    np.testing.assert_array_equal(np.asarray(state.info["frame"]), np.asarray(first.info["frame"]) + 1)


def _reference_physics(env, frames: jax.Array, forward_mjx: bool = False):
    """Physics of robots placed exactly on the reference at `frames` of clip 0 (C MuJoCo's mj_forward, or MJX's)."""
    refs = env.motion_lib.frame(jnp.zeros_like(frames), frames)
    mj_model = g1_model.load_model()
    index = physics_lib.ModelIndex.from_model(mj_model)
    if forward_mjx:
        model, base = mjx.put_model(mj_model), mjx.make_data(mj_model)

        def simulate(qpos, qvel):
            return physics_lib.from_mjx(mjx.forward(model, base.replace(qpos=qpos, qvel=qvel, ctrl=qpos[7:])), index)

        return refs, jax.jit(jax.vmap(simulate))(refs.qpos, refs.qvel)
    data, states = mujoco.MjData(mj_model), []
    for qpos, qvel in zip(np.asarray(refs.qpos), np.asarray(refs.qvel)):
        data.qpos[:], data.qvel[:], data.ctrl[:] = qpos, qvel, qpos[7:]
        mujoco.mj_forward(mj_model, data)
        states.append(physics_lib.derive(physics_lib.mujoco_output(data, index), index))
    return refs, jax.tree.map(lambda *x: jnp.stack(x), *states)


def test_reference_state_scores_maximum_tracking_and_no_termination(env):
    """A simulated state equal to the reference scores 1 on every tracking term and fails nothing."""
    frames = jnp.array([3, 40, 77])
    _, physics = _reference_physics(env, frames)
    zero = jnp.zeros(env.action_size)

    @jax.jit
    @jax.vmap
    def score(physics, frame):
        terms = env.reward_terms(physics, 0, frame, zero, zero, jnp.array(False))
        return terms, env.failures(physics, 0, frame)

    terms, failures = score(physics, frames)
    for term in rewards.TRACKING_TERMS:
        assert np.all(np.asarray(terms[term]) > 0.995), (term, terms[term])
    for kind in FAILURES:
        assert not np.any(np.asarray(failures[kind])), kind
    # A robot away from the reference scores less on every tracking term.
    tilted = jnp.array([0.98, 0.2, 0.0, 0.0]) / np.linalg.norm([0.98, 0.2])
    moved = physics.replace(qpos=physics.qpos.at[:, 2].add(-0.1).at[:, 7:].add(0.3).at[:, 3:7].set(tilted),
                            keypoints=physics.keypoints + 0.1, keypoint_vel=physics.keypoint_vel + 0.5,
                            com=physics.com + jnp.array([0.05, -0.05, 0.0]))
    moved_terms, _ = score(moved, frames)
    for term in rewards.TRACKING_TERMS:
        assert np.all(np.asarray(moved_terms[term]) < np.asarray(terms[term]) - 0.05), term


@pytest.mark.slow
def test_mujoco_and_mjx_extraction_agree(env):
    """What C MuJoCo reports equals what MJX reports, through the same derivation."""
    frames = jnp.array([3, 40])
    _, c_physics = _reference_physics(env, frames)
    _, physics = _reference_physics(env, frames, forward_mjx=True)
    for i in range(2):
        for field in ("qpos", "qvel", "keypoints", "keypoint_vel", "com", "feet", "feet_vel"):
            np.testing.assert_allclose(np.asarray(getattr(c_physics, field)[i]),
                                       np.asarray(getattr(physics, field)[i]), atol=1e-4)
        assert np.all(np.asarray(c_physics.foot_force[i]) > 10.0)  # both feet touch the floor
        np.testing.assert_allclose(np.asarray(c_physics.foot_force[i]).sum(), np.asarray(physics.foot_force[i]).sum(),
                                   rtol=0.05)


def test_a_fall_terminates_and_restarts_only_that_env(env, fns, first):
    _, step = fns
    lying = np.asarray(first.pipeline_state.qpos[0]).copy()
    lying[2] = 0.15
    lying[3:7] = [np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0]  # rolled onto its side
    state = step(_set_env(first, 0, qpos=lying), jnp.zeros((NUM_ENVS, env.action_size)))
    done = np.asarray(state.done)
    assert done[0] == 1 and np.all(done[1:] == 0)
    assert np.asarray(state.metrics["termination/fall"])[0] == 1
    assert np.asarray(state.info["truncation"])[0] == 0
    penalty = env.config.ctrl_dt * env.config.reward.weights.termination
    np.testing.assert_allclose(np.asarray(state.metrics["reward/termination"])[0], penalty, rtol=1e-6)
    # Env 0 restarted on its new reference state; the others continue their episodes.
    steps = np.asarray(state.info["steps"])
    assert steps[0] == 0 and np.all(steps[1:] == 1)
    ref = env.motion_lib.frame(state.info["clip"][0], state.info["frame"][0])
    np.testing.assert_allclose(np.asarray(state.pipeline_state.qpos[0]), np.asarray(ref.qpos), atol=1e-6)
    # The failure is counted once, in its adaptive-sampling bin; the table is spread over the envs' state.
    counts = np.asarray(state.info["fail_counts"])
    assert counts.shape == (NUM_ENVS, -(-env.motion_lib.num_bins // NUM_ENVS))
    bin_index = int(env.motion_lib.bin_index(first.info["clip"][0], first.info["frame"][0] + 1))
    assert counts.reshape(-1)[bin_index] == 1.0 and counts.sum() == 1.0


def test_nan_physics_resets_only_that_env(env, fns, first):
    _, step = fns
    action = jnp.zeros((NUM_ENVS, env.action_size))
    clean = step(first, action)
    poisoned = step(_set_env(first, 1, qvel=jnp.full(constants.QVEL_SIZE, jnp.nan)), action)
    assert np.asarray(poisoned.metrics["termination/nan"])[1] == 1
    np.testing.assert_array_equal(np.asarray(poisoned.done), [0, 1, 0, 0])
    for leaf in jax.tree.leaves((poisoned.obs, poisoned.reward, poisoned.metrics, poisoned.pipeline_state.qpos,
                                 poisoned.pipeline_state.qvel)):
        assert np.all(np.isfinite(np.asarray(leaf)))
    others = np.array([0, 2, 3])
    for kind in ("actor", "privileged"):
        np.testing.assert_array_equal(np.asarray(poisoned.obs[kind])[others], np.asarray(clean.obs[kind])[others])
    # The restarted env goes on simulating normally.
    state = poisoned
    for _ in range(3):
        state = step(state, action)
    assert np.all(np.isfinite(np.asarray(state.pipeline_state.qpos)))
    assert np.all(np.asarray(state.metrics["termination/nan"]) == 0)


def test_end_of_clip_truncates(env, fns, first):
    _, step = fns
    last = env.motion_lib.lengths[first.info["clip"][2]] - 2
    state = first.replace(info=dict(first.info, frame=first.info["frame"].at[2].set(last)))
    state = step(state, jnp.zeros((NUM_ENVS, env.action_size)))
    assert np.asarray(state.done)[2] == 1 and np.asarray(state.info["truncation"])[2] == 1
    assert np.asarray(state.metrics["reward/termination"])[2] == 0


def test_same_seed_same_rollout(env, fns):
    reset, step = fns

    def rollout(seed: int):
        state = reset(jax.random.PRNGKey(seed))
        rng = jax.random.PRNGKey(seed + 100)
        for _ in range(4):
            rng, key = jax.random.split(rng)
            state = step(state, 0.3 * jax.random.normal(key, (NUM_ENVS, env.action_size)))
        return state

    a, b, c = rollout(1), rollout(1), rollout(2)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert not np.array_equal(np.asarray(a.obs["actor"]), np.asarray(c.obs["actor"]))


def test_actions_reach_the_servos_after_the_env_action_delay(env, fns, first):
    _, step = fns
    rng = np.random.default_rng(0)
    actions = [jnp.asarray(rng.normal(size=(NUM_ENVS, env.action_size)), jnp.float32) for _ in range(2)]
    state = step(step(first, actions[0]), actions[1])
    delay = np.asarray(first.info["params"].action_delay)
    ctrl = np.asarray(state.pipeline_state.ctrl)
    for i in range(NUM_ENVS):
        if np.asarray(state.info["steps"])[i] != 2:
            continue  # restarted
        applied = np.asarray(actions[1 - delay[i]])[i]
        np.testing.assert_allclose(ctrl[i], constants.DEFAULT_POSE + constants.ACTION_SCALE * applied, atol=1e-5)


def test_randomised_parameters_reach_the_model(env):
    params = randomization.sample_params(jax.random.PRNGKey(5), env.nominal, env.config)
    model = randomization.model_fields(env.nominal, params)
    nominal = randomization.model_fields(env.nominal, randomization.nominal_params(env.nominal))
    mj_model = g1_model.load_model()
    for field in ("body_mass", "body_ipos", "dof_armature", "pair_friction", "actuator_gainprm", "actuator_biasprm"):
        np.testing.assert_allclose(np.asarray(nominal[field]), getattr(mj_model, field), rtol=1e-6, err_msg=field)
    np.testing.assert_allclose(np.asarray(model["actuator_gainprm"][:, 0]),
                               constants.KP * np.asarray(params.kp_scale * params.strength), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(model["actuator_biasprm"][:, 2]),
                               -constants.KD * np.asarray(params.kd_scale * params.strength), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(model["body_mass"][1:]),
                               mj_model.body_mass[1:] * np.asarray(params.mass_scale), rtol=1e-5)
    floor_pairs = env.nominal.floor_pairs
    np.testing.assert_allclose(np.asarray(model["pair_friction"][floor_pairs, 0]), float(params.friction), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(model["pair_friction"][~floor_pairs]), mj_model.pair_friction[~floor_pairs])


def test_reference_action_offset_plays_the_clip_back(env):
    """With action_offset 'reference', action 0 sets the servo targets to the reference joints of the next frame."""
    config = ml_collections.ConfigDict(env.config.to_dict())
    config.action_offset = "reference"
    reference_env = TrackingEnv(config, env.motion_lib)
    clip, frame = jnp.array(0), jnp.array(17)
    np.testing.assert_allclose(np.asarray(reference_env.joint_targets(jnp.zeros(env.action_size), clip, frame)),
                               np.asarray(env.motion_lib.frame(clip, frame).qpos[7:]), atol=1e-6)
    np.testing.assert_allclose(np.asarray(env.joint_targets(jnp.ones(env.action_size), clip, frame)),
                               constants.DEFAULT_POSE + constants.ACTION_SCALE, atol=1e-6)
    config.action_offset = "zero"
    with pytest.raises(ValueError, match="action_offset"):
        TrackingEnv(config, env.motion_lib)


def test_substeps_that_miss_the_control_period_are_refused(env):
    """substeps * the model's timestep must be ctrl_dt; otherwise the env says so before it builds a back end."""
    config = ml_collections.ConfigDict(env.config.to_dict())
    config.substeps = env.config.substeps + 1
    with pytest.raises(ValueError, match="is not ctrl_dt"):
        TrackingEnv(config, env.motion_lib)


def test_privileged_observation_holds_the_next_reference_joints(env):
    """The teacher sees the joints of the frame its action reaches, relative to its own, and their velocities."""
    frames = jnp.array([3, 40])
    refs, physics = _reference_physics(env, frames)
    params = randomization.nominal_params(env.nominal)
    history = jnp.zeros((env.config.history_length, observations.proprio_layout().size))
    zero = jnp.zeros(env.action_size)
    obs, _ = jax.vmap(lambda p, f: env.observe(p, 0, f, zero, history, params))(physics, frames)
    following = env.motion_lib.frame(jnp.zeros_like(frames), frames + 1)
    blocks = env.obs_layout["privileged"].slices
    np.testing.assert_allclose(np.asarray(obs["privileged"][:, blocks["ref_joint_pos_error"]]),
                               np.asarray(following.qpos[:, 7:] - refs.qpos[:, 7:]), atol=1e-5)
    np.testing.assert_allclose(np.asarray(obs["privileged"][:, blocks["ref_joint_vel"]]),
                               np.asarray(following.qvel[:, 6:]), atol=1e-5)
    assert np.abs(np.asarray(following.qpos[:, 7:] - refs.qpos[:, 7:])).max() > 1e-3  # the clip moves


def test_the_actor_can_observe_its_root_velocity_as_a_state_estimator_gives_it(env):
    """With `actor_base_lin_vel` the actor reads the root's linear velocity in its body frame (as the privileged
    observation does), with uniform noise of `noise.base_lin_vel` where the actor's noise applies."""
    config = ml_collections.ConfigDict(env.config.to_dict())
    config.actor_base_lin_vel = True
    seeing = TrackingEnv(config, env.motion_lib)
    assert seeing.observation_size["actor"] == env.observation_size["actor"] + 3
    assert seeing.observation_size["privileged"] == env.observation_size["privileged"]
    frames = jnp.array([3, 40])
    _, physics = _reference_physics(env, frames)
    world_velocity = jnp.array([[0.6, -0.2, 0.1], [-0.3, 0.4, 0.0]])
    physics = physics.replace(qvel=physics.qvel.at[:, :3].set(world_velocity))
    params = randomization.nominal_params(env.nominal)
    history = jnp.zeros((env.config.history_length, observations.proprio_layout().size))
    zero = jnp.zeros(env.action_size)
    keys = jax.random.split(jax.random.PRNGKey(5), 2)
    clean, _ = jax.vmap(lambda p, f: seeing.observe(p, 0, f, zero, history, params))(physics, frames)
    noisy, _ = jax.vmap(lambda p, f, k: seeing.observe(p, 0, f, zero, history, params, k))(physics, frames, keys)
    actor, privileged = seeing.obs_layout["actor"].slices["base_lin_vel"], seeing.obs_layout["privileged"].slices
    body = np.stack([np.asarray(brax_math.inv_rotate(v, q)) for v, q in zip(world_velocity, physics.qpos[:, 3:7])])
    np.testing.assert_allclose(np.asarray(clean["actor"][:, actor]), body, atol=1e-5)
    np.testing.assert_allclose(np.asarray(clean["privileged"][:, privileged["base_lin_vel"]]), body, atol=1e-5)
    assert np.abs(body - np.asarray(world_velocity)).max() > 0.1  # the body frame is not the world's here
    error = np.asarray(noisy["actor"][:, actor]) - body
    assert np.abs(error).max() <= config.noise.base_lin_vel + 1e-6 and np.abs(error).min() > 0.0
    # The same state without the block: the rest of the actor observation is unchanged.
    plain, _ = jax.vmap(lambda p, f: env.observe(p, 0, f, zero, history, params))(physics, frames)
    np.testing.assert_allclose(np.delete(np.asarray(clean["actor"]), np.arange(actor.start, actor.stop), axis=1),
                               np.asarray(plain["actor"]), atol=1e-6)


def _carried(physics, turn: float, shift: np.ndarray):
    """`physics` with the whole robot turned by `turn` rad of heading about its root and moved by `shift` (m)."""
    quat = jnp.array([np.cos(turn / 2), 0.0, 0.0, np.sin(turn / 2)])
    root = physics.qpos[:, :3]

    def carry(points, root):
        return jax.vmap(brax_math.rotate, in_axes=(0, None))(points - root, quat) + root + shift

    qpos = physics.qpos.at[:, :3].add(shift).at[:, 3:7].set(jax.vmap(brax_math.quat_mul, in_axes=(None, 0))(
        quat, physics.qpos[:, 3:7]))
    return physics.replace(qpos=qpos, keypoints=jax.vmap(carry)(physics.keypoints, root),
                           com=jax.vmap(carry)(physics.com[:, None], root)[:, 0],
                           feet=jax.vmap(carry)(physics.feet, root))


def test_anchored_keypoint_term_ignores_drift_and_the_world_terms_do_not(env):
    """A robot in the reference pose but turned and off the path scores 1 on the anchored keypoint and centre-of-mass
    terms, less on the world keypoint and root-position terms, and fails on the world limits only while they are on."""
    frames = jnp.array([3, 40, 77])
    _, physics = _reference_physics(env, frames)
    drifted = _carried(physics, turn=0.5, shift=np.array([0.6, -0.2, 0.0]))
    zero = jnp.zeros(env.action_size)
    terms = jax.vmap(lambda p, f: env.reward_terms(p, 0, f, zero, zero, jnp.array(False)))(drifted, frames)
    assert np.all(np.asarray(terms["keypoint_position_anchored"]) > 0.995)
    assert np.all(np.asarray(terms["center_of_mass"]) > 0.995)
    assert np.all(np.asarray(terms["keypoint_position"]) < 0.01)
    assert np.all(np.asarray(terms["root_position"]) < 0.05)

    refs = env.motion_lib.frame(jnp.zeros_like(frames), frames)
    fails = jax.vmap(terminations.compute_failures, in_axes=(0, 0, None))(drifted, refs, env.config)
    assert np.all(np.asarray(fails["anchor_error"])) and np.all(np.asarray(fails["keypoint_error"]))
    drift_blind = tracking_config.default_config()
    drift_blind.termination.max_keypoint_error = drift_blind.termination.max_anchor_error = 0.0
    drift_blind.termination.max_end_effector_height_error = 0.25
    fails = jax.vmap(terminations.compute_failures, in_axes=(0, 0, None))(drifted, refs, drift_blind)
    assert not any(np.any(np.asarray(hit)) for hit in fails.values())
    # A hand 0.3 m below the reference's is a failure of the end-effector height limit.
    hand = constants.KEYPOINT_INDEX["left_hand"]
    dropped = drifted.replace(keypoints=drifted.keypoints.at[:, hand, 2].add(-0.3))
    fails = jax.vmap(terminations.compute_failures, in_axes=(0, 0, None))(dropped, refs, drift_blind)
    assert np.all(np.asarray(fails["end_effector_height"]))


def _goal_noise_steps(num_envs: int, steps: int, **noise) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Actor and privileged goal keypoints [steps, envs, G, K, 3] of envs stepped with zero actions on a long clip,
    with every observation noise off but `noise` (keys of `config.noise`), the clip frames [steps, envs] and the
    control period."""
    config = tracking_config.default_config()
    config.num_envs = num_envs
    config.action_offset = "reference"
    config.randomization.enabled = config.push.enabled = False
    config.noise = ml_collections.ConfigDict({name: 0.0 for name in config.noise if name != "goal_drift_origin"})
    config.noise.goal_drift_origin = tracking_config.default_config().noise.goal_drift_origin
    config.noise.update(noise)
    # A long clip, so that no start is within the steps of its end.
    env = TrackingEnv(config, MotionLib.from_clips([synthetic_motion.synthetic_motion(duration=20.0, yaw=0.5)]))
    state = jax.jit(env.reset)(jax.random.PRNGKey(3))
    assert np.all(np.asarray(state.info["frame"]) < env.motion_lib.lengths[0] - steps - 2)
    step = jax.jit(env.step)
    goals, frames = {"actor": [], "privileged": []}, []
    for _ in range(steps):
        state = step(state, jnp.zeros((num_envs, env.action_size)))
        assert not np.any(np.asarray(state.done))
        frames.append(np.asarray(state.info["frame"]))
        for name, out in goals.items():
            out.append(np.asarray(state.obs[name][:, env.obs_layout[name].slices["goal_keypoints"]]).reshape(
                num_envs, -1, len(constants.KEYPOINT_NAMES), 3))
    return np.stack(goals["actor"]), np.stack(goals["privileged"]), np.stack(frames), config.ctrl_dt


@pytest.mark.parametrize("origin", ["clip", "episode"])
def test_goal_drift_slides_only_the_actor_goals_at_a_per_episode_velocity(origin):
    """The slide has gone on since the clip's first frame ('clip', as a video's drift in the noise suite) or since
    the episode's start ('episode')."""
    actor, privileged, frames, ctrl_dt = _goal_noise_steps(NUM_ENVS, 10, goal_drift_speed=0.2,
                                                           goal_drift_origin=origin)
    goal_shift = (actor - privileged).reshape(10, NUM_ENVS, -1, 3)
    np.testing.assert_allclose(goal_shift, np.broadcast_to(goal_shift[:, :, :1], goal_shift.shape), atol=1e-5)
    shifts = goal_shift[:, :, 0]
    drifting = frames if origin == "clip" else np.broadcast_to(np.arange(1, 11)[:, None], frames.shape)
    assert origin == "episode" or np.all(frames[0] > 1)  # the starts are late in the clip, so the two differ
    # In the heading frame, so compare speeds: |shift| grows linearly, at most 0.2 m/s, differently per env.
    speeds = np.linalg.norm(shifts, axis=-1) / (drifting * ctrl_dt)
    np.testing.assert_allclose(speeds, np.broadcast_to(speeds[:1], speeds.shape), rtol=1e-3, atol=1e-4)
    assert np.all(speeds[0] <= 0.2) and np.ptp(speeds[0]) > 0.01
    np.testing.assert_allclose(shifts[..., 2], 0.0, atol=1e-3)  # horizontal while the robot is upright


def test_an_unknown_drift_origin_is_refused(env):
    config = ml_collections.ConfigDict(env.config.to_dict())
    config.noise.goal_drift_origin = "video"
    with pytest.raises(ValueError, match="goal_drift_origin"):
        TrackingEnv(config, env.motion_lib)


def test_goal_bone_scale_gives_the_actor_a_wrongly_proportioned_goal_body_per_episode():
    actor, privileged, _, _ = _goal_noise_steps(NUM_ENVS, 5, goal_bone_scale=0.1)
    index = constants.KEYPOINT_INDEX
    pelvis = index["pelvis"]
    np.testing.assert_allclose(actor[..., pelvis, :], privileged[..., pelvis, :], atol=1e-5)
    children = [index[c] for c in constants.KEYPOINT_PARENT]
    parents = [index[p] for p in constants.KEYPOINT_PARENT.values()]
    bones = {k: g[..., children, :] - g[..., parents, :] for k, g in (("actor", actor), ("privileged", privileged))}
    # Each bone keeps its direction and is scaled by its own factor.
    np.testing.assert_allclose(np.cross(bones["actor"], bones["privileged"]), 0.0, atol=1e-5)
    ratios = np.linalg.norm(bones["actor"], axis=-1) / np.linalg.norm(bones["privileged"], axis=-1)
    # ratios: [steps, envs, goal offsets, bones]
    np.testing.assert_allclose(ratios, np.broadcast_to(ratios[:1, :, :1], ratios.shape), rtol=1e-3)
    assert np.std(ratios[0, :, 0]) > 0.03 and np.ptp(ratios[0, :, 0, 0]) > 0.01  # per bone and per env


def test_goal_wobble_shifts_the_actor_goals_by_a_slowly_varying_horizontal_offset():
    num_envs = 64
    actor, privileged, _, _ = _goal_noise_steps(num_envs, 10, goal_wobble=0.1)
    shift = (actor - privileged).reshape(10, num_envs, -1, 3)
    np.testing.assert_allclose(shift, np.broadcast_to(shift[:, :, :1], shift.shape), atol=1e-5)  # the whole body
    shifts = shift[:, :, 0]  # [steps, envs, 3], in each robot's heading frame
    np.testing.assert_allclose(shifts[..., 2], 0.0, atol=1e-3)  # horizontal while the robot is upright
    assert 0.08 < np.std(shifts[0, :, :2]) < 0.12
    # Each step moves it by about sqrt(1 - exp(-2 dt / GOAL_WOBBLE_TIME)) = 0.2 of its std: it drifts, not flickers.
    step_std = np.std(np.diff(shifts[..., :2], axis=0))
    assert 0.01 < step_std < 0.03
