"""The JAX forward kinematics of the G1 against MuJoCo."""

import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from genmimic_jax.retarget import kinematics
from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model


def body_frames(tree: kinematics.KinematicTree, qpos) -> kinematics.Frames:
    """Body world poses from qpos [..., 36] (root position, wxyz quaternion, 29 joints)."""
    qpos = jnp.asarray(qpos, jnp.float32)
    return kinematics.forward(tree, qpos[..., :3], kinematics.quat_to_matrix(qpos[..., 3:7]), qpos[..., 7:])


@pytest.fixture(scope="module")
def random_qpos():
    rng = np.random.default_rng(0)
    qpos = np.zeros((6, constants.QPOS_SIZE))
    qpos[:, :3] = rng.normal(size=(6, 3))
    quat = rng.normal(size=(6, 4))
    qpos[:, 3:7] = quat / np.linalg.norm(quat, axis=-1, keepdims=True)
    qpos[:, 7:] = rng.uniform(constants.JOINT_LIMITS[:, 0], constants.JOINT_LIMITS[:, 1], size=(6, 29))
    return qpos


def test_forward_kinematics_matches_mujoco(random_qpos):
    model = g1_model.load_model(scene=False)
    data = mujoco.MjData(model)
    tree = kinematics.g1_tree()
    frames = body_frames(tree, random_qpos)
    sites = np.asarray(kinematics.sites(tree, frames, np.arange(model.nsite)))
    for i, qpos in enumerate(random_qpos):
        data.qpos[:] = qpos
        mujoco.mj_kinematics(model, data)
        np.testing.assert_allclose(sites[i], data.site_xpos, atol=1e-5)
        np.testing.assert_allclose(np.asarray(frames.position[i]), data.xpos[1:], atol=1e-5)
        np.testing.assert_allclose(np.asarray(frames.rotation[i]).reshape(-1, 9), data.xmat[1:], atol=1e-5)


def test_center_of_mass_matches_mujoco(random_qpos):
    model = g1_model.load_model(scene=False)
    data = mujoco.MjData(model)
    com = np.asarray(kinematics.center_of_mass(kinematics.g1_tree(), body_frames(kinematics.g1_tree(), random_qpos)))
    for i, qpos in enumerate(random_qpos):
        data.qpos[:] = qpos
        mujoco.mj_forward(model, data)
        np.testing.assert_allclose(com[i], data.subtree_com[0], atol=1e-5)


def test_point_jacobian_matches_mujoco(random_qpos):
    model = g1_model.load_model(scene=False)
    data = mujoco.MjData(model)
    tree = kinematics.g1_tree()
    site_ids = tree.site_index(constants.KEYPOINT_SITES + constants.FOOT_SITES)
    frames = body_frames(tree, random_qpos)
    positions = kinematics.sites(tree, frames, site_ids)
    jacobian = np.asarray(kinematics.point_jacobian(tree, frames, tree.site_body[site_ids], positions))
    expected = np.zeros((3, model.nv))
    for i, qpos in enumerate(random_qpos):
        data.qpos[:] = qpos
        mujoco.mj_forward(model, data)
        for k, site in enumerate(site_ids):
            mujoco.mj_jacSite(model, data, expected, None, int(site))
            np.testing.assert_allclose(jacobian[i, k], expected, atol=1e-5)


def test_rotation_conversions(random_qpos):
    quat = random_qpos[:, 3:7]
    matrix = np.asarray(kinematics.quat_to_matrix(jnp.asarray(quat, jnp.float32)))
    expected = np.zeros(9)
    for q, m in zip(quat, matrix):
        mujoco.mju_quat2Mat(expected, q)
        np.testing.assert_allclose(m.reshape(-1), expected, atol=1e-6)
    back = np.asarray(kinematics.matrix_to_quat(jnp.asarray(matrix)))
    np.testing.assert_allclose(np.abs(np.sum(back * quat, -1)), 1.0, atol=1e-6)  # same rotation (q ~ -q)
    rotvec = kinematics.matrix_to_rotvec(jnp.asarray(matrix))
    np.testing.assert_allclose(np.asarray(kinematics.rotvec_to_matrix(rotvec)), matrix, atol=1e-5)
    np.testing.assert_allclose(np.asarray(kinematics.rotvec_to_matrix(jnp.zeros(3))), np.eye(3), atol=1e-7)
