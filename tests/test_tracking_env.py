"""Tests of the batched MJX G1 tracking environment (one compiled reset/step shared by all tests)."""

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from mujoco import mjx

from configs import tracking as tracking_config
from genmimic_jax.envs import physics as physics_lib
from genmimic_jax.envs import randomization, rewards, synthetic_motion
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


def _reference_physics(env, frames: jax.Array, forward: bool):
    """MJX physics of robots placed exactly on the reference at `frames` of clip 0 (full forward or kinematics)."""
    refs = env.motion_lib.frame(jnp.zeros_like(frames), frames)
    base = mjx.make_data(g1_model.load_model())

    def simulate(qpos, qvel):
        data = base.replace(qpos=qpos, qvel=qvel, ctrl=qpos[7:])
        if forward:
            data = mjx.forward(env.model, data)
        else:  # positions and velocities only: much cheaper to compile than a full forward
            data = mjx.com_vel(env.model, mjx.com_pos(env.model, mjx.kinematics(env.model, data)))
        return env.extract_physics(data)

    return refs, jax.jit(jax.vmap(simulate))(refs.qpos, refs.qvel)


def test_reference_state_scores_maximum_tracking_and_no_termination(env):
    """A simulated state equal to the reference scores 1 on every tracking term and fails nothing."""
    frames = jnp.array([3, 40, 77])
    _, physics = _reference_physics(env, frames, forward=False)
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
                            keypoints=physics.keypoints + 0.1, keypoint_vel=physics.keypoint_vel + 0.5)
    moved_terms, _ = score(moved, frames)
    for term in rewards.TRACKING_TERMS:
        assert np.all(np.asarray(moved_terms[term]) < np.asarray(terms[term]) - 0.05), term


@pytest.mark.slow
def test_mujoco_and_mjx_extraction_agree(env):
    """The C MuJoCo extraction equals the MJX one (evaluation runs the same functions on both back ends)."""
    refs, physics = _reference_physics(env, jnp.array([3, 40]), forward=True)
    mj_model = g1_model.load_model()
    data = mujoco.MjData(mj_model)
    index = physics_lib.ModelIndex.from_model(mj_model)
    for i in range(2):
        data.qpos[:], data.qvel[:] = np.asarray(refs.qpos[i]), np.asarray(refs.qvel[i])
        data.ctrl[:] = data.qpos[7:]
        mujoco.mj_forward(mj_model, data)
        c_physics = physics_lib.from_mujoco(mj_model, data, index)
        for field in ("qpos", "qvel", "keypoints", "keypoint_vel", "feet", "feet_vel"):
            np.testing.assert_allclose(getattr(c_physics, field), np.asarray(getattr(physics, field)[i]), atol=1e-4)
        assert np.all(c_physics.foot_force > 10.0)  # both feet touch the floor
        np.testing.assert_allclose(c_physics.foot_force.sum(), np.asarray(physics.foot_force[i]).sum(), rtol=0.05)


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
    # The failure is counted in its adaptive-sampling bin, in every env's copy of the table.
    counts = np.asarray(state.info["fail_counts"])
    bin_index = int(env.motion_lib.bin_index(first.info["clip"][0], first.info["frame"][0] + 1))
    assert np.all(counts[:, bin_index] == 1.0) and counts.sum() == NUM_ENVS


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
    model = randomization.apply_params(env.model, env.nominal, params)
    nominal = randomization.apply_params(env.model, env.nominal, randomization.nominal_params(env.nominal))
    for field in ("body_mass", "body_ipos", "dof_armature", "pair_friction", "actuator_gainprm", "actuator_biasprm"):
        np.testing.assert_allclose(np.asarray(getattr(nominal, field)), np.asarray(getattr(env.model, field)),
                                   rtol=1e-6, err_msg=field)
    np.testing.assert_allclose(np.asarray(model.actuator_gainprm[:, 0]),
                               constants.KP * np.asarray(params.kp_scale * params.strength), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(model.actuator_biasprm[:, 2]),
                               -constants.KD * np.asarray(params.kd_scale * params.strength), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(model.body_mass[1:]),
                               np.asarray(env.model.body_mass[1:]) * np.asarray(params.mass_scale), rtol=1e-5)
    floor_pairs = env.nominal.floor_pairs
    np.testing.assert_allclose(np.asarray(model.pair_friction[floor_pairs, 0]), float(params.friction), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(model.pair_friction[~floor_pairs]),
                               np.asarray(env.model.pair_friction[~floor_pairs]))
