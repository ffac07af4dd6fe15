"""The JAX SMPL / SMPL+H / SMPL-X body model on synthetic model files."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from genmimic_jax.human import body_model as bm
from genmimic_jax.human import synthetic_body_model as synthetic

forward = jax.jit(bm.forward)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    synthetic.write_smpl_pkl(root / "smpl" / "SMPL_NEUTRAL.pkl", seed=1)
    synthetic.write_smpl_pkl(root / "smplh" / "SMPLH_NEUTRAL.pkl", model_type="smplh", seed=2)
    synthetic.write_model_npz(root / "smplx" / "SMPLX_NEUTRAL.npz", model_type="smplx", seed=3)
    return root


@pytest.fixture(scope="module")
def smpl(model_dir):
    return bm.load_body_model(model_dir, "smpl")


def random_params(model, batch, seed=0, scale=0.5):
    rng = np.random.default_rng(seed)
    params = {
        "betas": rng.normal(size=(batch, 10)),
        "global_orient": rng.normal(size=(batch, 3)),
        "body_pose": rng.normal(scale=scale, size=(batch, 3 * (bm.NUM_BODY_JOINTS[model.model_type] - 1))),
        "transl": rng.normal(size=(batch, 3)),
    }
    if model.model_type != "smpl":
        params["left_hand_pose"] = rng.normal(scale=scale, size=(batch, 45))
        params["right_hand_pose"] = rng.normal(scale=scale, size=(batch, 45))
    if model.model_type == "smplx":
        for name in ("jaw_pose", "leye_pose", "reye_pose"):
            params[name] = rng.normal(scale=scale, size=(batch, 3))
        params["expression"] = rng.normal(size=(batch, 10))
    return {k: v.astype(np.float32) for k, v in params.items()}


@pytest.mark.parametrize("model_type", bm.MODEL_TYPES)
def test_zero_pose_gives_template(model_dir, model_type):
    model = bm.load_body_model(model_dir, model_type)
    rest, parents = synthetic.rest_skeleton(model_type)
    assert model.parents == tuple(parents) and model.num_joints == bm.NUM_JOINTS[model_type]
    num_body = bm.NUM_BODY_JOINTS[model_type] - 1
    out = forward(model, {"global_orient": jnp.zeros(3), "body_pose": jnp.zeros(3 * num_body)})
    np.testing.assert_allclose(out.joints, rest, atol=1e-5)
    np.testing.assert_allclose(out.vertices, model.v_template, atol=1e-5)
    np.testing.assert_allclose(out.rotations, np.broadcast_to(np.eye(3), out.rotations.shape), atol=1e-6)


def test_known_rotations(smpl):
    rest, _ = synthetic.rest_skeleton("smpl")
    body_pose = np.zeros((23, 3), np.float32)
    body_pose[3] = [np.pi / 2, 0, 0]  # joint 4 (left_knee) bends 90 degrees about x
    root = Rotation.from_rotvec([0, 0, np.pi / 2])  # and the whole body turns 90 degrees about z
    transl = np.array([1.0, 2.0, 3.0], np.float32)
    out = forward(smpl, {"global_orient": jnp.asarray(root.as_rotvec(), jnp.float32),
                         "body_pose": jnp.asarray(body_pose.reshape(-1)), "transl": jnp.asarray(transl)})
    pelvis = rest[0]
    world = lambda p: root.apply(p - pelvis) + pelvis + transl  # noqa: E731
    knee, ankle, foot = rest[4], rest[7], rest[10]
    bend = Rotation.from_rotvec([np.pi / 2, 0, 0])
    np.testing.assert_allclose(out.joints[4], world(knee), atol=1e-5)
    np.testing.assert_allclose(out.joints[7], world(knee + bend.apply(ankle - knee)), atol=1e-5)
    np.testing.assert_allclose(out.joints[10], world(knee + bend.apply(foot - knee)), atol=1e-5)
    np.testing.assert_allclose(out.joints[5], world(rest[5]), atol=1e-5)  # the other leg is untouched
    np.testing.assert_allclose(out.rotations[7], (root * bend).as_matrix(), atol=1e-6)
    np.testing.assert_allclose(out.rotations[5], root.as_matrix(), atol=1e-6)


def test_jit_vmap_grad(smpl):
    params = random_params(smpl, batch=3)
    batched = forward(smpl, params)
    mapped = jax.jit(jax.vmap(bm.forward, in_axes=(None, 0)))(smpl, params)
    np.testing.assert_allclose(mapped.vertices, batched.vertices, atol=1e-5)
    # Shared betas broadcast against per-frame poses.
    shared = forward(smpl, dict(params, betas=params["betas"][0]))
    np.testing.assert_allclose(shared.joints[0], batched.joints[0], atol=1e-5)

    def loss(p):
        out = bm.forward(smpl, p)
        return jnp.sum(out.joints[..., 0]) + jnp.sum(out.vertices**2)

    grad = jax.jit(jax.grad(loss))
    zero = {k: jnp.zeros_like(v[0]) for k, v in params.items()}  # zero rotations: the Rodrigues singularity
    for point in ({k: v[0] for k, v in params.items()}, zero):
        grads = grad(point)
        for name in ("betas", "body_pose", "global_orient", "transl"):
            assert np.all(np.isfinite(grads[name])), name
            assert np.abs(grads[name]).max() > 0, name
    # d(sum of joint x)/d(transl x) = number of joints, plus the vertex term 2 * sum(vertex x).
    expected = smpl.num_joints + 2 * float(jnp.sum(forward(smpl, zero).vertices[:, 0]))
    np.testing.assert_allclose(grads["transl"][0], expected, rtol=1e-4)


def test_param_sizes_are_checked(smpl):
    with pytest.raises(ValueError, match="has 10 betas components, got 16"):
        bm.shaped_rest(smpl, {"betas": jnp.zeros(16)})
    with pytest.raises(ValueError, match="has 0 expression components"):
        bm.shaped_rest(smpl, {"expression": jnp.zeros(10)})
    with pytest.raises(ValueError, match="'body_pose' must have 69 entries"):
        bm.full_pose(smpl, {"body_pose": jnp.zeros(63)})


def test_axis_angle_matches_scipy():
    vectors = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    vectors[0] = 0.0
    vectors[1] = [1e-5, 0, 0]
    np.testing.assert_allclose(bm.axis_angle_to_matrix(jnp.asarray(vectors)),
                               Rotation.from_rotvec(vectors).as_matrix(), atol=1e-5)


@pytest.mark.parametrize("model_type, hands", [("smplh", (25, 40)), ("smplx", (28, 43)), ("smpl", (22, 23))])
def test_joints_24(model_dir, model_type, hands):
    model = bm.load_body_model(model_dir, model_type)
    out = forward(model, random_params(model, batch=2))
    positions, rotations = bm.joints_24(model, out)
    assert positions.shape == (2, 24, 3) and rotations.shape == (2, 24, 3, 3)
    np.testing.assert_array_equal(positions[:, :22], out.joints[:, :22])
    np.testing.assert_array_equal(positions[:, 22:], out.joints[:, list(hands)])


def test_official_smpl_file_name_and_errors(tmp_path):
    synthetic.write_smpl_pkl(tmp_path / "basicmodel_m_lbs_10_207_0_v1.1.0.pkl", seed=4)
    assert bm.load_body_model(tmp_path, "smpl", "male").gender == "male"
    with pytest.raises(bm.BodyModelError, match=r"no female smpl model file.*third_party/README.md"):
        bm.load_body_model(tmp_path, "smpl", "female")
    with pytest.raises(bm.BodyModelError, match="no such body model file"):
        bm.load_body_model(tmp_path / "missing.npz", "smplx")
    wrong = tmp_path / "SMPLX_NEUTRAL.npz"
    synthetic.write_model_npz(wrong, model_type="smpl")  # 24 joints where SMPL-X has 55
    with pytest.raises(bm.BodyModelError, match=r"SMPLX_NEUTRAL.npz: posedirs has shape .* 55-joint smplx"):
        bm.load_body_model(wrong, "smplx")
    wrong.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(bm.BodyModelError, match="not a readable model .npz"):
        bm.load_body_model(wrong, "smplx")


@pytest.mark.parametrize("model_type", bm.MODEL_TYPES)
def test_matches_smplx_package(model_dir, model_type):
    torch = pytest.importorskip("torch")
    smplx = pytest.importorskip("smplx")
    model = bm.load_body_model(model_dir, model_type)
    params = random_params(model, batch=4, seed=5)
    hands = {} if model_type == "smpl" else dict(use_pca=False, flat_hand_mean=True)
    kwargs = dict(num_expression_coeffs=10) if model_type == "smplx" else {}
    reference = smplx.create(str(model_dir), model_type=model_type, num_betas=10, ext=_ext(model_type),
                             **hands, **kwargs)
    _drop_vertex_keypoints(reference)
    with torch.no_grad():
        expected = reference(**{k: torch.tensor(v) for k, v in params.items()})
    out = forward(model, params)
    np.testing.assert_allclose(out.vertices, expected.vertices.numpy(), atol=1e-5)
    np.testing.assert_allclose(out.joints, expected.joints[:, : model.num_joints].numpy(), atol=1e-5)


def test_hand_pca_matches_smplx_package(model_dir):
    torch = pytest.importorskip("torch")
    smplx = pytest.importorskip("smplx")
    model = bm.load_body_model(model_dir, "smplx")
    params = random_params(model, batch=2, seed=6)
    rng = np.random.default_rng(7)
    pca = {side: rng.normal(size=(2, 6)).astype(np.float32) for side in ("left", "right")}
    reference = smplx.create(str(model_dir), model_type="smplx", num_betas=10, num_expression_coeffs=10,
                             use_pca=True, num_pca_comps=6, flat_hand_mean=False)
    _drop_vertex_keypoints(reference)
    torch_params = {k: torch.tensor(v) for k, v in params.items() if not k.endswith("hand_pose")}
    with torch.no_grad():
        expected = reference(**torch_params, left_hand_pose=torch.tensor(pca["left"]),
                             right_hand_pose=torch.tensor(pca["right"]))
    for side in ("left", "right"):
        params[f"{side}_hand_pose"] = bm.hand_pose_from_pca(model, jnp.asarray(pca[side]), side)
    np.testing.assert_allclose(forward(model, params).vertices, expected.vertices.numpy(), atol=1e-5)


def _ext(model_type):
    return "npz" if model_type == "smplx" else "pkl"


def _drop_vertex_keypoints(reference):
    """smplx appends keypoints picked from fixed vertex ids of the real meshes; point them at vertex 0 here."""
    reference.vertex_joint_selector.extra_joints_idxs.zero_()
