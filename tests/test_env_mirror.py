"""Left/right mirror consistency of the tracking environment's observations and actions."""

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from genmimic_jax.envs import tracking as tracking_config
from genmimic_jax.envs import physics as physics_lib
from genmimic_jax.envs import observations, randomization, synthetic_motion
from genmimic_jax.envs.motion_lib import MotionLib, ReferenceClip
from genmimic_jax.envs.tracking import TrackingEnv
from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model

_LINEAR = np.array([1.0, -1.0, 1.0])  # a polar vector reflected through the x-z plane
_ANGULAR = np.array([-1.0, 1.0, -1.0])  # an axial vector (angular velocity) under the same reflection


def mirror_qpos(qpos: np.ndarray) -> np.ndarray:
    out = qpos.copy()
    out[..., :3] = qpos[..., :3] * _LINEAR
    out[..., 3:7] = qpos[..., 3:7] * np.array([1.0, -1.0, 1.0, -1.0])  # M R M for R = quat (w, x, y, z)
    out[..., 7:] = qpos[..., 7:][..., constants.JOINT_MIRROR_INDEX] * constants.JOINT_MIRROR_SIGN
    return out


def mirror_qvel(qvel: np.ndarray) -> np.ndarray:
    out = qvel.copy()
    out[..., :3] = qvel[..., :3] * _LINEAR
    out[..., 3:6] = qvel[..., 3:6] * _ANGULAR
    out[..., 6:] = qvel[..., 6:][..., constants.JOINT_MIRROR_INDEX] * constants.JOINT_MIRROR_SIGN
    return out


@pytest.fixture(scope="module")
def setup():
    clip = synthetic_motion.synthetic_motion(duration=2.0, yaw=0.4, position=(0.3, 0.2))
    mirrored = ReferenceClip(qpos=mirror_qpos(clip.qpos.astype(np.float64)), fps=clip.fps, keypoints=clip.keypoints,
                             source="mirrored")
    lib = MotionLib.from_clips([clip, mirrored])
    config = tracking_config.default_config()
    config.num_envs = 2
    config.actor_base_lin_vel = True  # every actor block the layout can hold
    env = TrackingEnv(config, lib)
    observe = jax.jit(env.observe)
    return env, lib, observe


def test_mirror_maps_are_involutions_of_the_right_size(setup):
    env, _, _ = setup
    for kind in ("actor", "privileged"):
        assert env.mirror_maps[kind].size == env.observation_size[kind]
    assert env.mirror_maps["action"].size == env.action_size
    for mirror_map in env.mirror_maps.values():
        assert mirror_map.is_involution()
        assert not np.array_equal(mirror_map.perm, np.arange(mirror_map.size))  # it does swap sides


def _proprio(physics: physics_lib.PhysicsState, last_action: jax.Array) -> jax.Array:
    return observations.proprio_layout().assemble(observations.proprioception(physics, last_action))


def _physics(model, data, index, qpos, qvel) -> physics_lib.PhysicsState:
    data.qpos[:], data.qvel[:] = qpos, qvel
    data.ctrl[:] = qpos[7:]
    mujoco.mj_forward(model, data)
    return physics_lib.derive(physics_lib.mujoco_output(data, index), index)


def _mirror_params(params: randomization.PhysicsParams, nominal) -> randomization.PhysicsParams:
    """The physics parameters of the left/right mirrored robot (`nominal`: `randomization.Nominal`)."""
    joints = constants.JOINT_MIRROR_INDEX
    return params.replace(mass_scale=params.mass_scale[..., nominal.body_mirror],
                          com_offset=params.com_offset * np.array([1.0, -1.0, 1.0]),
                          kp_scale=params.kp_scale[..., joints], kd_scale=params.kd_scale[..., joints],
                          strength=params.strength[..., joints])


def test_observations_of_the_mirrored_state_are_the_mirrored_observations(setup):
    env, lib, observe = setup
    model = g1_model.load_model()
    data = mujoco.MjData(model)
    index = physics_lib.ModelIndex.from_model(model)
    rng = np.random.default_rng(0)
    params = randomization.sample_params(jax.random.PRNGKey(3), env.nominal, env.config)
    params_m = _mirror_params(params, env.nominal)
    action_map = env.mirror_maps["action"]
    history = history_m = None
    contact_seen = False
    for frame in (30, 31):
        ref_qpos = np.asarray(lib.clip_frames(0).qpos[frame], np.float64)
        qpos = ref_qpos.copy()
        qpos[:3] += [0.03, -0.02, -0.004]  # slightly into the floor so the feet carry load
        qpos[7:] += rng.normal(0.0, 0.05, constants.NUM_JOINTS)
        qvel = rng.normal(0.0, 0.3, constants.QVEL_SIZE)
        last_action = jnp.asarray(rng.normal(0.0, 1.0, constants.NUM_JOINTS), jnp.float32)
        physics = _physics(model, data, index, qpos, qvel)
        physics_m = _physics(model, data, index, mirror_qpos(qpos), mirror_qvel(qvel))
        contact_seen |= bool(np.all(np.asarray(physics.foot_force) > 1.0))
        if history is None:  # the reset rule: the history starts filled with the first proprio vector
            history = jnp.tile(_proprio(physics, last_action), (env.config.history_length, 1))
            history_m = jnp.tile(_proprio(physics_m, action_map.apply(last_action)), (env.config.history_length, 1))
        obs, history = observe(physics, 0, frame, last_action, history, params)
        obs_m, history_m = observe(physics_m, 1, frame, action_map.apply(last_action), history_m, params_m)
        for kind in ("actor", "privileged"):
            expected = np.asarray(env.mirror_maps[kind].apply(obs[kind]))
            actual = np.asarray(obs_m[kind])
            for name, block in env.obs_layout[kind].slices.items():
                scale = max(1.0, np.abs(expected[block]).max())
                np.testing.assert_allclose(actual[block], expected[block], atol=2e-3 * scale,
                                           err_msg=f"{kind}/{name}")
            assert not np.allclose(actual, np.asarray(obs[kind]), atol=1e-2)  # mirroring is not trivial here
    assert contact_seen
