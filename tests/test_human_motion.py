"""The canonical HumanMotion: validation, resampling, trimming, .npz round trip."""

import dataclasses
import zipfile

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from genmimic_jax.human import motion as motion_lib
from genmimic_jax.human.motion import HumanMotion, MotionFormatError
from genmimic_jax.human.skeleton import JOINT_INDEX
from human_test_data import T_POSE_ARRAY, walking_positions

FPS = 30.0
SPIN_RATE = 2.0  # rad/s about z, for analytic orientations.


def _spin_quaternions(times: np.ndarray) -> np.ndarray:
    """[T, 24, 4] wxyz: every joint turning about z at SPIN_RATE, joint j offset by 0.1 j rad."""
    angles = SPIN_RATE * times[:, None] + 0.1 * np.arange(24)[None]
    return np.stack([np.cos(angles / 2), 0 * angles, 0 * angles, np.sin(angles / 2)], axis=-1).astype(np.float32)


def _spin_rotvecs(times: np.ndarray) -> np.ndarray:
    """[T, 69] axis-angle body pose: 23 joints turning about x at SPIN_RATE."""
    angles = SPIN_RATE * times[:, None] * np.ones((1, 23))
    return np.stack([angles, 0 * angles, 0 * angles], axis=-1).reshape(len(times), 69)


@pytest.fixture
def motion() -> HumanMotion:
    times = np.arange(61) / FPS
    mask = np.ones(24, bool)
    mask[JOINT_INDEX["left_hand"]] = False
    return HumanMotion(
        positions=walking_positions(61, FPS), fps=FPS, mask=mask, orientations=_spin_quaternions(times),
        smpl_params={"betas": np.arange(10, dtype=np.float32), "transl": np.stack([times] * 3, -1),
                     "body_pose": _spin_rotvecs(times), "gender": np.array("female")},
        height=1.7, source="clip.bvh")


def test_valid_motion_passes(motion):
    motion_lib.validate(motion)
    assert motion.num_frames == 61 and motion.duration == pytest.approx(2.0)


@pytest.mark.parametrize("change,message", [
    (lambda m: dataclasses.replace(m, positions=m.positions[:0]), "no frames"),
    (lambda m: dataclasses.replace(m, positions=m.positions[:, :20]), "shape"),
    (lambda m: dataclasses.replace(m, fps=0.0), "frame rate 0 is outside [1, 1000] fps"),
    (lambda m: dataclasses.replace(m, fps=1e6), "frame rate 1000000 is outside [1, 1000] fps"),
    (lambda m: dataclasses.replace(m, fps=float("nan")), "frame rate"),
    (lambda m: dataclasses.replace(m, positions=np.where(np.arange(61)[:, None, None] == 7, np.nan, m.positions)),
     "non-finite position at frame 7, joint pelvis"),
    (lambda m: dataclasses.replace(m, positions=m.positions * 100.0), "wrong units?"),
    (lambda m: dataclasses.replace(m, height=170.0), "subject height 170 m"),
    (lambda m: dataclasses.replace(m, positions=np.zeros_like(m.positions)), "all joints coincide"),
    (lambda m: dataclasses.replace(m, joint_names=m.joint_names[::-1]), "SMPL order"),
    (lambda m: dataclasses.replace(m, mask=np.ones(23, bool)), "mask"),
    (lambda m: dataclasses.replace(m, orientations=2 * m.orientations), "unit quaternions"),
])
def test_validation_errors_name_the_source(motion, change, message):
    with pytest.raises(MotionFormatError) as error:
        motion_lib.validate(change(motion))
    assert str(error.value).startswith("clip.bvh: ") and message in str(error.value)
    assert "\n" not in str(error.value)


def test_long_bone_is_rejected(motion):
    positions = motion.positions.copy()
    positions[:, JOINT_INDEX["left_wrist"], 0] -= 1.2  # A 1.45 m forearm; the skeleton still spans < 3 m.
    with pytest.raises(MotionFormatError, match="bone to left_wrist is 1.45 m long"):
        motion_lib.validate(dataclasses.replace(motion, positions=positions))


def test_resample_is_exact_on_linear_and_constant_rate_data(motion):
    out = motion_lib.resample(motion, 50.0)
    new_times = np.arange(101) / 50.0
    assert out.fps == 50.0 and out.num_frames == 101 and out.duration == pytest.approx(motion.duration)
    np.testing.assert_allclose(out.positions[:, :, :2], walking_positions(101, 50.0)[:, :, :2], atol=1e-5)
    q, expected = out.orientations, _spin_quaternions(new_times)
    np.testing.assert_allclose(np.abs(np.sum(q * expected, axis=-1)), 1.0, atol=1e-6)  # Same rotation, any sign.
    assert out.orientations.dtype == np.float32
    np.testing.assert_allclose(out.smpl_params["transl"], np.stack([new_times] * 3, -1), atol=1e-9)
    pose = Rotation.from_rotvec(out.smpl_params["body_pose"].reshape(-1, 3)).as_matrix()
    expected_pose = Rotation.from_rotvec(_spin_rotvecs(new_times).reshape(-1, 3)).as_matrix()
    np.testing.assert_allclose(pose, expected_pose, atol=1e-6)
    np.testing.assert_array_equal(out.smpl_params["betas"], motion.smpl_params["betas"])
    assert str(out.smpl_params["gender"]) == "female"
    np.testing.assert_array_equal(out.mask, motion.mask)
    motion_lib.validate(out)


def test_resample_sinusoid_error_is_small(motion):
    times = np.arange(61) / FPS
    positions = motion.positions.copy()
    positions[..., 2] = T_POSE_ARRAY[None, :, 2] + 0.05 * np.sin(2 * np.pi * times)[:, None]
    out = motion_lib.resample(dataclasses.replace(motion, positions=positions), 120.0)
    new_times = np.arange(out.num_frames) / 120.0
    expected = T_POSE_ARRAY[None, :, 2] + 0.05 * np.sin(2 * np.pi * new_times)[:, None]
    # Linear interpolation error bound: h^2/8 * max|f''| = (1/30)^2 / 8 * 0.05 (2 pi)^2.
    assert np.max(np.abs(out.positions[..., 2] - expected)) <= (1 / 30) ** 2 / 8 * 0.05 * (2 * np.pi) ** 2 + 1e-6
    down = motion_lib.resample(motion, 10.0)
    np.testing.assert_allclose(down.positions, motion.positions[::3], atol=1e-6)  # 10 fps = every third frame.


def test_trim(motion):
    out = motion_lib.trim(motion, 10, 20)
    assert out.num_frames == 10
    np.testing.assert_array_equal(out.positions, motion.positions[10:20])
    np.testing.assert_array_equal(out.orientations, motion.orientations[10:20])
    np.testing.assert_array_equal(out.smpl_params["body_pose"], motion.smpl_params["body_pose"][10:20])
    np.testing.assert_array_equal(out.smpl_params["betas"], motion.smpl_params["betas"])
    assert motion_lib.trim(motion, -5).num_frames == 5
    with pytest.raises(MotionFormatError, match="clip.bvh: trimming to frames \\[50, 40\\) leaves no frames"):
        motion_lib.trim(motion, 50, 40)


def test_npz_round_trip_without_pickle(motion, tmp_path):
    path = tmp_path / "clip.npz"
    motion_lib.save_npz(motion, path)
    assert [p.name for p in tmp_path.iterdir()] == ["clip.npz"]  # No temporary file left.
    with np.load(path, allow_pickle=False) as data:
        assert {"positions", "fps", "joint_names", "mask", "orientations", "height", "source",
                "smpl_betas", "smpl_body_pose", "smpl_gender", "smpl_transl"} == set(data.files)
        assert data["joint_names"].dtype.kind == "U"
    back = motion_lib.load_npz(path)
    for field in ("positions", "mask", "orientations"):
        np.testing.assert_array_equal(getattr(back, field), getattr(motion, field))
    assert (back.fps, back.joint_names, back.height, back.source) == (motion.fps, motion.joint_names, 1.7, "clip.bvh")
    assert set(back.smpl_params) == set(motion.smpl_params) and str(back.smpl_params["gender"]) == "female"
    np.testing.assert_array_equal(back.smpl_params["body_pose"], motion.smpl_params["body_pose"])


def test_minimal_npz_loads(tmp_path):
    path = tmp_path / "minimal.npz"
    np.savez(path, positions=walking_positions(3, FPS), fps=30, joint_names=np.array(motion_lib.SMPL_JOINT_NAMES))
    back = motion_lib.load_npz(path)
    assert back.mask is None and back.orientations is None and back.height is None and back.source == str(path)


@pytest.mark.parametrize("arrays,message", [
    (dict(positions=walking_positions(3, FPS), fps=30), "missing keys joint_names"),
    (dict(positions=walking_positions(3, FPS), fps=30, joint_names=np.array(motion_lib.SMPL_JOINT_NAMES), extra=1),
     "unexpected keys extra"),
    (dict(positions=walking_positions(3, FPS)[:, :, :2], fps=30, joint_names=np.array(motion_lib.SMPL_JOINT_NAMES)),
     "shape"),
    (dict(positions=walking_positions(3, FPS), fps=-1.0, joint_names=np.array(motion_lib.SMPL_JOINT_NAMES)),
     "frame rate"),
    (dict(positions=np.full((3, 24, 3), np.inf), fps=30, joint_names=np.array(motion_lib.SMPL_JOINT_NAMES)),
     "non-finite"),
    (dict(positions=walking_positions(3, FPS), fps=30, joint_names=np.array(motion_lib.SMPL_JOINT_NAMES, object)),
     "cannot read"),
])
def test_bad_npz_gives_one_line_error(arrays, message, tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(MotionFormatError) as error:
        motion_lib.load_npz(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)


def test_truncated_npz(motion, tmp_path):
    path = tmp_path / "clip.npz"
    motion_lib.save_npz(motion, path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(MotionFormatError, match="clip.npz: cannot read as .npz"):
        motion_lib.load_npz(path)
    assert not zipfile.is_zipfile(path)


def test_rotation_helpers_agree_with_scipy():
    times = np.linspace(0, 1, 5)
    q = _spin_quaternions(times)
    expected = Rotation.from_euler("z", SPIN_RATE * times[:, None]).as_quat()
    np.testing.assert_allclose(np.roll(q[:, 0], -1, axis=-1), expected, atol=1e-6)


def test_skeleton_plot_writes_a_png(motion, tmp_path):
    from genmimic_jax.viz.skeleton_plot import plot_skeleton_frames

    plot_skeleton_frames(motion, [0, 30], tmp_path / "frames.png")
    assert (tmp_path / "frames.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
