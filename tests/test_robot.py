"""The project's G1 model: compiles, matches Unitree's published model, mirrors, and stands under PD."""

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from mujoco import mjx

from genmimic_jax.robot.g1 import constants, model as g1_model


@pytest.fixture(scope="module")
def mj_model() -> mujoco.MjModel:
    return g1_model.load_model()


@pytest.fixture(scope="module")
def reference_model(shared_dir) -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_path(str(shared_dir / "reference/unitree_g1/g1_29dof.xml"))


def _random_qpos(rng: np.random.Generator) -> np.ndarray:
    lo, hi = constants.JOINT_LIMITS.T
    quat = rng.normal(size=4)
    return np.concatenate([rng.uniform(-1, 1, 3), quat / np.linalg.norm(quat), rng.uniform(lo, hi)])


def test_joint_order_and_constants_match_the_model(mj_model):
    assert mj_model.nq == constants.QPOS_SIZE and mj_model.nv == constants.QVEL_SIZE
    assert tuple(mj_model.joint(i).name for i in range(1, mj_model.njnt)) == constants.JOINT_NAMES
    assert tuple(mujoco.mj_id2name(mj_model, mujoco.mjtObj.mjOBJ_JOINT, j) for j in mj_model.actuator_trnid[:, 0]) == (
        constants.JOINT_NAMES)
    np.testing.assert_allclose(mj_model.jnt_range[1:], constants.JOINT_LIMITS, atol=1e-6)
    np.testing.assert_allclose(mj_model.actuator_gainprm[:, 0], constants.KP)
    np.testing.assert_allclose(-mj_model.actuator_biasprm[:, 2], constants.KD)
    np.testing.assert_allclose(mj_model.actuator_forcerange[:, 1], constants.TORQUE_LIMITS)
    np.testing.assert_allclose(mj_model.jnt_actfrcrange[1:, 1], constants.TORQUE_LIMITS)
    g1_model.site_ids(mj_model, constants.KEYPOINT_SITES + constants.FOOT_SITES)
    assert set(constants.KEYPOINT_GROUPS) == set(constants.KEYPOINT_NAMES) == set(constants.KEYPOINT_TO_SMPL)


def test_dds_order_maps_are_inverse_permutations():
    assert sorted(constants.DDS_TO_MUJOCO) == list(range(constants.NUM_JOINTS))
    np.testing.assert_array_equal(constants.DDS_TO_MUJOCO[constants.MUJOCO_TO_DDS], np.arange(constants.NUM_JOINTS))
    assert constants.JOINT_NAMES[constants.DDS_TO_MUJOCO[15]] == "left_shoulder_pitch_joint"
    assert constants.JOINT_NAMES[constants.DDS_TO_MUJOCO[14]] == "waist_pitch_joint"


def test_model_compiles_in_mjx(mj_model):
    mx = mjx.put_model(mj_model)
    assert mx.nq == constants.QPOS_SIZE


def test_kinematics_match_unitree_reference(mj_model, reference_model):
    ours, ref = mujoco.MjData(mj_model), mujoco.MjData(reference_model)
    bodies = [reference_model.body(i).name for i in range(1, reference_model.nbody)]
    ours_ids = [mj_model.body(n).id for n in bodies]
    rng = np.random.default_rng(0)
    worst_pos, worst_angle = 0.0, 0.0
    for _ in range(200):
        qpos = _random_qpos(rng)
        ours.qpos[:] = ref.qpos[:] = qpos
        mujoco.mj_kinematics(mj_model, ours)
        mujoco.mj_kinematics(reference_model, ref)
        worst_pos = max(worst_pos, np.abs(ours.xpos[ours_ids] - ref.xpos[1:]).max())
        dots = np.abs(np.sum(ours.xquat[ours_ids] * ref.xquat[1:], axis=-1)).clip(max=1.0)
        worst_angle = max(worst_angle, np.degrees(2 * np.arccos(dots)).max())
    assert worst_pos < 1e-3, worst_pos
    assert worst_angle < 0.1, worst_angle


def test_mass_inertia_ranges_and_joint_dynamics_match_unitree_reference(mj_model, reference_model):
    names = [reference_model.body(i).name for i in range(1, reference_model.nbody)]
    ours_mass = np.array([mj_model.body(n).mass[0] for n in names])
    ref_mass = reference_model.body_mass[1:]
    np.testing.assert_allclose(ours_mass, ref_mass, rtol=0.01)
    np.testing.assert_allclose(mj_model.body_mass.sum(), reference_model.body_mass.sum(), rtol=0.01)
    np.testing.assert_allclose([mj_model.body(n).inertia for n in names], reference_model.body_inertia[1:], rtol=1e-6)
    ref_joints = [reference_model.joint(i).name for i in range(1, reference_model.njnt)]
    assert tuple(ref_joints) == constants.JOINT_NAMES
    np.testing.assert_array_equal(mj_model.jnt_range, reference_model.jnt_range)
    np.testing.assert_array_equal(mj_model.jnt_axis, reference_model.jnt_axis)
    np.testing.assert_allclose(mj_model.jnt_actfrcrange, reference_model.jnt_actfrcrange)
    for field in ("dof_armature", "dof_damping", "dof_frictionloss"):
        np.testing.assert_allclose(getattr(mj_model, field), getattr(reference_model, field), err_msg=field)


def _mirror_qpos(qpos: np.ndarray) -> np.ndarray:
    """Reflection y -> -y of a configuration."""
    w, x, y, z = qpos[3:7]
    joints = qpos[7:][constants.JOINT_MIRROR_INDEX] * constants.JOINT_MIRROR_SIGN
    return np.concatenate([qpos[:3] * [1, -1, 1], [w, -x, y, -z], joints])


def test_mirror_map_is_an_involution():
    np.testing.assert_array_equal(constants.JOINT_MIRROR_INDEX[constants.JOINT_MIRROR_INDEX],
                                  np.arange(constants.NUM_JOINTS))
    np.testing.assert_array_equal(constants.JOINT_MIRROR_SIGN[constants.JOINT_MIRROR_INDEX], constants.JOINT_MIRROR_SIGN)
    np.testing.assert_array_equal(constants.KEYPOINT_MIRROR_INDEX[constants.KEYPOINT_MIRROR_INDEX],
                                  np.arange(len(constants.KEYPOINT_NAMES)))
    qpos = _random_qpos(np.random.default_rng(1))
    np.testing.assert_allclose(_mirror_qpos(_mirror_qpos(qpos)), qpos)


def test_mirrored_configuration_gives_mirrored_keypoints(mj_model):
    data = mujoco.MjData(mj_model)
    rng = np.random.default_rng(2)
    lo, hi = constants.JOINT_LIMITS.T
    # Mirrored joint targets must stay inside the (asymmetric-looking but mirror-consistent) ranges.
    np.testing.assert_allclose(np.where(constants.JOINT_MIRROR_SIGN > 0, lo, -hi)[constants.JOINT_MIRROR_INDEX], lo)
    for _ in range(50):
        qpos = _random_qpos(rng)
        data.qpos[:] = qpos
        mujoco.mj_kinematics(mj_model, data)
        keypoints = g1_model.keypoint_positions(mj_model, data)
        data.qpos[:] = _mirror_qpos(qpos)
        mujoco.mj_kinematics(mj_model, data)
        mirrored = g1_model.keypoint_positions(mj_model, data)
        expected = keypoints[constants.KEYPOINT_MIRROR_INDEX] * [1, -1, 1]
        assert np.abs(mirrored - expected).max() < 1e-3


def test_default_pose_puts_soles_on_the_floor(mj_model):
    data = mujoco.MjData(mj_model)
    data.qpos[:] = g1_model.default_qpos()
    mujoco.mj_kinematics(mj_model, data)
    soles = data.site_xpos[g1_model.site_ids(mj_model, constants.FOOT_SITES)]
    np.testing.assert_allclose(soles[:, 2], 0.0, atol=2e-3)
    np.testing.assert_allclose(mj_model.key_qpos[0], g1_model.default_qpos(), atol=1e-4)


def _assert_standing(qpos: np.ndarray) -> None:
    assert abs(qpos[2] - constants.DEFAULT_ROOT_HEIGHT) < 0.03, qpos[:3]
    assert np.linalg.norm(qpos[:2]) < 0.05, qpos[:3]
    assert np.abs(qpos[7:] - constants.DEFAULT_POSE).max() < 0.1


def test_stands_under_pd_for_five_seconds_in_mujoco(mj_model):
    data = mujoco.MjData(mj_model)
    mujoco.mj_resetDataKeyframe(mj_model, data, 0)
    for _ in range(round(5.0 / mj_model.opt.timestep)):
        mujoco.mj_step(mj_model, data)
    _assert_standing(data.qpos)


def test_stands_under_pd_for_five_seconds_in_mjx(mj_model):
    mx = mjx.put_model(mj_model)
    data = mjx.make_data(mx).replace(qpos=jnp.asarray(mj_model.key_qpos[0]), ctrl=jnp.asarray(mj_model.key_ctrl[0]))
    steps = round(5.0 / mj_model.opt.timestep)
    data = jax.jit(lambda d: jax.lax.fori_loop(0, steps, lambda _, d: mjx.step(mx, d), d))(data)
    _assert_standing(np.asarray(data.qpos))
