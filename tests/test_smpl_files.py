"""AMASS / GVHMR / TRAM / WHAM parameter files to HumanMotion, on synthetic body models and files."""

import pickle

import jax
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from genmimic_jax.human import body_model as bm
from genmimic_jax.human import smpl_files
from genmimic_jax.human import synthetic_body_model as synthetic
from genmimic_jax.human.motion import MotionFormatError

NUM_FRAMES = 9
_forward = jax.jit(bm.forward)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    synthetic.write_smpl_pkl(root / "smpl" / "SMPL_NEUTRAL.pkl", seed=1)
    synthetic.write_model_npz(root / "smplh" / "male" / "model.npz", model_type="smplh", num_shape=16, seed=2)
    synthetic.write_model_npz(root / "smplx" / "SMPLX_NEUTRAL.npz", model_type="smplx", seed=3)
    return root


@pytest.fixture(scope="module")
def models(model_dir):
    return {
        "smpl": bm.load_body_model(model_dir, "smpl"),
        "smplh": bm.load_body_model(model_dir, "smplh", "male"),
        "smplx": bm.load_body_model(model_dir, "smplx"),
    }


def _pose(num_joints, seed, scale=0.3):
    rng = np.random.default_rng(seed)
    pose = rng.normal(scale=scale, size=(NUM_FRAMES, num_joints * 3))
    pose[:, :3] = rng.normal(scale=0.2, size=3)  # a roughly upright root, as in a real clip
    return pose


def _reference(model, params, world=np.eye(3), offset=np.zeros(3)):
    """SMPL-24 joints on the floor: pose in the source frame, move every point by `world` [T | 1, 3, 3] and
    `offset` [T | 1, 3], then drop the lowest vertex of the clip to z = 0."""
    out = _forward(model, {k: np.asarray(v, np.float32) for k, v in params.items()})
    joints, _ = bm.joints_24(model, out)
    world, offset = np.broadcast_to(world, (NUM_FRAMES, 3, 3)), np.broadcast_to(offset, (NUM_FRAMES, 3))
    joints, vertices = (np.einsum("tab,tnb->tna", world, np.asarray(x, np.float64)) + offset[:, None]
                        for x in (joints, out.vertices))
    return joints - [0.0, 0.0, vertices[..., 2].min()]


def _params(model_type, full_pose, betas, transl):
    return dict(smpl_files._split_full_pose(full_pose, model_type), betas=betas, transl=transl)


def _check(motion, expected, fps, model):
    assert motion.positions.shape == (NUM_FRAMES, 24, 3) and motion.positions.dtype == np.float32
    assert motion.fps == fps
    np.testing.assert_allclose(motion.positions, expected, atol=2e-5)
    # The stored params reproduce the positions in the z-up world.
    params = {k: v for k, v in motion.smpl_params.items() if v.dtype.kind == "f"}
    positions, rotations = bm.joints_24(model, _forward(model, params))
    np.testing.assert_allclose(positions, motion.positions, atol=2e-5)
    quat = Rotation.from_matrix(np.asarray(rotations, np.float64).reshape(-1, 3, 3)).as_quat(scalar_first=True)
    dots = np.abs(np.sum(quat * motion.orientations.reshape(-1, 4), axis=-1))
    np.testing.assert_allclose(dots, 1.0, atol=1e-5)
    assert 1.3 < motion.height < 1.9


def test_amass_smplh(tmp_path, model_dir, models):
    poses, trans, betas = _pose(52, seed=0), np.random.default_rng(1).normal(size=(NUM_FRAMES, 3)), np.zeros(16)
    betas[:3] = [0.5, -0.3, 0.2]
    np.savez(tmp_path / "walk_poses.npz", poses=poses, trans=trans, betas=betas, gender=np.array("male"),
             mocap_framerate=np.array(120.0), dmpls=np.zeros((NUM_FRAMES, 8)))
    motion = smpl_files.load_smpl_motion(tmp_path / "walk_poses.npz", model_dir)
    _check(motion, _reference(models["smplh"], _params("smplh", poses, betas, trans)), 120.0, models["smplh"])
    assert str(motion.smpl_params["model_type"]) == "smplh" and str(motion.smpl_params["gender"]) == "male"
    # The same clip on the plain SMPL model keeps the 22 body joints' rotations.
    as_smpl = smpl_files.load_smpl_motion(tmp_path / "walk_poses.npz", model_dir, model_type="smpl", gender="neutral")
    np.testing.assert_array_equal(as_smpl.smpl_params["body_pose"][:, :63], motion.smpl_params["body_pose"])


def test_amass_smplx(tmp_path, model_dir, models):
    poses, trans = _pose(55, seed=2), np.random.default_rng(3).normal(size=(NUM_FRAMES, 3))
    betas = np.random.default_rng(4).normal(size=10)
    np.savez(tmp_path / "x_stageii.npz", poses=poses, trans=trans, betas=betas, gender=np.array("neutral"),
             mocap_frame_rate=np.array(60.0), surface_model_type=np.array("smplx"))
    motion = smpl_files.load_smpl_motion(tmp_path / "x_stageii.npz", model_dir)
    _check(motion, _reference(models["smplx"], _params("smplx", poses, betas, trans)), 60.0, models["smplx"])


def test_gvhmr(tmp_path, model_dir, models):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    body, trans = _pose(22, seed=6), rng.normal(size=(NUM_FRAMES, 3))
    betas = np.tile(rng.normal(size=10), (NUM_FRAMES, 1))
    tensor = lambda x: torch.tensor(x, dtype=torch.float32)  # noqa: E731
    params = {"global_orient": tensor(body[:, :3]), "body_pose": tensor(body[:, 3:]),
              "transl": tensor(trans), "betas": tensor(betas)}
    torch.save({"smpl_params_global": params, "smpl_params_incam": params, "K_fullimg": tensor(np.eye(3))},
               tmp_path / "hmr4d_results.pt")
    motion = smpl_files.load_smpl_motion(tmp_path / "hmr4d_results.pt", model_dir, fps=25)
    reference = {"global_orient": body[:, :3], "body_pose": body[:, 3:], "betas": betas[0], "transl": trans}
    expected = _reference(models["smplx"], reference, world=smpl_files.Y_UP_TO_Z_UP)
    _check(motion, expected, 25.0, models["smplx"])

    torch.save({"smpl_params_incam": params}, tmp_path / "incam_only.pt")
    with pytest.raises(MotionFormatError, match=r"incam_only\.pt: missing key 'smpl_params_global'"):
        smpl_files.load_smpl_motion(tmp_path / "incam_only.pt", model_dir)
    (tmp_path / "cut.pt").write_bytes((tmp_path / "hmr4d_results.pt").read_bytes()[:300])
    with pytest.raises(MotionFormatError, match=r"cut\.pt: cannot read as a torch file"):
        smpl_files.load_smpl_motion(tmp_path / "cut.pt", model_dir)


@pytest.mark.parametrize("writer", ["npy_of_torch_tensors", "npz"])
def test_tram_with_camera(tmp_path, model_dir, models, writer):
    rng = np.random.default_rng(7)
    pose, trans, betas = _pose(24, seed=8), rng.normal(size=(NUM_FRAMES, 1, 3)), rng.normal(size=(NUM_FRAMES, 10))
    rotmat = Rotation.from_rotvec(pose.reshape(-1, 3)).as_matrix().reshape(NUM_FRAMES, 24, 3, 3)
    frames = np.arange(3, 3 + NUM_FRAMES)
    track = {"pred_rotmat": rotmat.astype(np.float32), "pred_shape": betas, "pred_trans": trans,
             "pred_cam": np.zeros((NUM_FRAMES, 3)), "frame": frames}
    (tmp_path / "hps").mkdir()
    if writer == "npz":  # the same keys as plain arrays: no torch needed
        path = tmp_path / "hps" / "hps_track_0.npz"
        np.savez(path, **track)
    else:  # as TRAM's estimate_humans.py writes it: np.save of a dict of torch tensors
        torch = pytest.importorskip("torch")
        path = tmp_path / "hps" / "hps_track_0.npy"
        np.save(path, {k: torch.tensor(v) for k, v in track.items()})
    cam_r = Rotation.from_rotvec(rng.normal(scale=0.3, size=(20, 3)))
    cam_t = rng.normal(size=(20, 3))
    np.save(tmp_path / "camera.npy", {"world_cam_R": cam_r.as_matrix(), "world_cam_T": cam_t, "img_focal": 500.0})
    motion = smpl_files.load_smpl_motion(path, model_dir, fps=24)
    # Camera frame -> TRAM's y-up world (a different camera pose per frame) -> z-up.
    world = smpl_files.Y_UP_TO_Z_UP @ cam_r[frames].as_matrix()
    expected = _reference(models["smpl"], _params("smpl", pose, betas.mean(0), trans[:, 0]), world=world,
                          offset=cam_t[frames] @ smpl_files.Y_UP_TO_Z_UP.T)
    _check(motion, expected, 24.0, models["smpl"])


@pytest.mark.parametrize("writer", ["pickle", "joblib"])
def test_wham(tmp_path, model_dir, models, writer):
    rng = np.random.default_rng(9)
    pose, trans, betas = _pose(24, seed=10), rng.normal(size=(NUM_FRAMES, 3)), rng.normal(size=(NUM_FRAMES, 10))
    track = {"pose": pose, "trans": trans, "pose_world": pose, "trans_world": trans, "betas": betas,
             "verts": np.zeros((NUM_FRAMES, 4, 3)), "frame_ids": np.arange(NUM_FRAMES)}
    short = dict(track, pose_world=pose[:3], trans_world=trans[:3], frame_ids=np.arange(3))
    path = tmp_path / "wham_output.pkl"
    if writer == "joblib":  # as WHAM's demo.py writes it
        pytest.importorskip("joblib").dump({0: short, 1: track}, path)
    else:
        path.write_bytes(pickle.dumps({0: short, 1: track}))
    motion = smpl_files.load_smpl_motion(path, model_dir)  # the longest track, 30 fps
    expected = _reference(models["smpl"], _params("smpl", pose, betas.mean(0), trans), world=smpl_files.Y_UP_TO_Z_UP)
    _check(motion, expected, 30.0, models["smpl"])
    assert smpl_files.load_smpl_motion(path, model_dir, track=0).num_frames == 3


def _amass(tmp_path, **overrides):
    data = dict(poses=_pose(52, seed=0), trans=np.zeros((NUM_FRAMES, 3)), betas=np.zeros(16),
                gender=np.array("male"), mocap_framerate=np.array(120.0))
    data.update(overrides)
    path = tmp_path / "bad.npz"
    np.savez(path, **{k: v for k, v in data.items() if v is not None})
    return path


@pytest.mark.parametrize("overrides, message", [
    (dict(trans=None), r"missing key 'trans'"),
    (dict(poses=np.full((NUM_FRAMES, 156), np.nan)), r"'poses' contains NaN"),
    (dict(poses=np.zeros((NUM_FRAMES, 100))), r"'poses' has 100 columns"),
    (dict(trans=np.zeros((NUM_FRAMES + 1, 3))), r"'transl' has 10 frames"),
    (dict(mocap_framerate=np.array(-5.0)), r"'mocap_framerate' must be positive"),
    (dict(gender=np.array("robot")), r"'gender' is 'robot'"),
])
def test_bad_amass_files(tmp_path, model_dir, overrides, message):
    path = _amass(tmp_path, **overrides)
    with pytest.raises(MotionFormatError, match=rf"bad\.npz.*{message}"):
        smpl_files.load_smpl_motion(path, model_dir)


def test_bad_files(tmp_path, model_dir):
    truncated = tmp_path / "cut.npz"
    truncated.write_bytes(_amass(tmp_path).read_bytes()[:200])
    with pytest.raises(MotionFormatError, match=r"cut\.npz: cannot read as \.npz"):
        smpl_files.load_smpl_motion(truncated, model_dir)

    class Exploit:
        def __reduce__(self):
            return print, ("side effect",)

    evil = tmp_path / "wham_output.pkl"
    evil.write_bytes(pickle.dumps({0: {"pose_world": Exploit()}}))
    with pytest.raises(MotionFormatError, match=r"wham_output\.pkl: refused to unpickle global 'builtins\.print'"):
        smpl_files.load_smpl_motion(evil, model_dir)

    gaps = {0: {"pose_world": np.zeros((3, 72)), "trans_world": np.zeros((3, 3)), "betas": np.zeros((3, 10)),
                "frame_ids": np.array([0, 1, 5])}}
    evil.write_bytes(pickle.dumps(gaps))
    with pytest.raises(MotionFormatError, match=r"track 0: 'frame_ids' is not consecutive \(jumps from 1 to 5\)"):
        smpl_files.load_smpl_motion(evil, model_dir)
    evil.write_bytes(pickle.dumps({0: {"pose": np.zeros((3, 72))}}))
    with pytest.raises(MotionFormatError, match=r"missing key 'pose_world'"):
        smpl_files.load_smpl_motion(evil, model_dir)

    with pytest.raises(bm.BodyModelError, match="third_party/README.md"):
        smpl_files.load_smpl_motion(_amass(tmp_path), tmp_path / "no_models")


def test_model_dir_from_environment(tmp_path, model_dir, monkeypatch):
    monkeypatch.setenv(smpl_files.MODEL_DIR_ENV, str(model_dir))
    assert smpl_files.load_smpl_motion(_amass(tmp_path)).num_frames == NUM_FRAMES
    monkeypatch.delenv(smpl_files.MODEL_DIR_ENV)
    with pytest.raises(bm.BodyModelError, match=r"bad\.npz: no body model folder given"):
        smpl_files.load_smpl_motion(_amass(tmp_path))
