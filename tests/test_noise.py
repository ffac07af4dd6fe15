"""The generated-video noise suite: reproducible, identity at zero, each corruption doing what it says."""

import numpy as np
import pytest

from genmimic_jax.eval import noise
from genmimic_jax.robot.g1 import constants, model

FPS = 30.0


@pytest.fixture(scope="module")
def keypoints() -> np.ndarray:
    """Keypoints [T, K, 3] of the G1 walking forward while waving its joints, from MuJoCo kinematics."""
    import mujoco

    mj_model = model.load_model(scene=False)
    data = mujoco.MjData(mj_model)
    frames = 60
    out = np.empty((frames, len(constants.KEYPOINT_NAMES), 3))
    for t in range(frames):
        qpos = model.default_qpos()
        qpos[0] = 0.5 * t / FPS
        qpos[7:] += 0.3 * np.sin(2.0 * np.pi * t / frames + np.arange(constants.NUM_JOINTS))
        data.qpos[:] = qpos
        mujoco.mj_kinematics(mj_model, data)
        out[t] = model.keypoint_positions(mj_model, data)
    return out


@pytest.mark.parametrize("name", sorted(noise.CORRUPTIONS))
def test_reproducible_from_seed_and_identity_at_zero(name, keypoints):
    severity = noise.SEVERITIES[name][-1]
    first = noise.corrupt(name, keypoints, FPS, severity, seed=3)
    assert first.shape == keypoints.shape and first.dtype == np.float32 and np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, noise.corrupt(name, keypoints, FPS, severity, seed=3))
    assert not np.array_equal(first, noise.corrupt(name, keypoints, FPS, severity, seed=4))
    np.testing.assert_allclose(noise.corrupt(name, keypoints, FPS, 0.0, seed=3), keypoints, atol=1e-6)


@pytest.mark.parametrize("name", sorted(noise.CORRUPTIONS))
def test_stronger_levels_corrupt_more(name, keypoints):
    displacement = [np.mean(np.linalg.norm(noise.corrupt(name, keypoints, FPS, level, seed=0) - keypoints, axis=-1))
                    for level in noise.SEVERITIES[name]]
    assert displacement[0] > 0.0
    assert all(a < b for a, b in zip(displacement, displacement[1:])), displacement


def test_jitter_has_the_asked_std(keypoints):
    noisy = noise.jitter(keypoints, FPS, 0.02, seed=0)
    assert np.std(noisy - keypoints) == pytest.approx(0.02, rel=0.05)


def _bone_lengths(keypoints):
    index = constants.KEYPOINT_INDEX
    return np.stack([np.linalg.norm(keypoints[:, index[c]] - keypoints[:, index[p]], axis=-1)
                     for c, p in constants.KEYPOINT_PARENT.items()], axis=-1)


def test_limb_length_scales_each_bone_by_a_constant_factor(keypoints):
    distorted = noise.limb_length(keypoints, FPS, 0.1, seed=1)
    ratio = _bone_lengths(distorted) / _bone_lengths(keypoints)
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:1], ratio.shape), rtol=1e-9)
    assert np.std(ratio[0]) > 0.02
    pelvis = constants.KEYPOINT_INDEX["pelvis"]
    np.testing.assert_array_equal(distorted[:, pelvis], keypoints[:, pelvis])
    # Bone directions are kept.
    index = constants.KEYPOINT_INDEX
    for child, parent in constants.KEYPOINT_PARENT.items():
        before = keypoints[:, index[child]] - keypoints[:, index[parent]]
        after = distorted[:, index[child]] - distorted[:, index[parent]]
        np.testing.assert_allclose(np.cross(before, after), 0.0, atol=1e-9)


def test_drift_is_a_horizontal_translation_at_the_asked_speed(keypoints):
    drifted = noise.drift(keypoints, FPS, 0.1, seed=2)
    offset = drifted - keypoints
    np.testing.assert_allclose(offset, np.broadcast_to(offset[:, :1], offset.shape), atol=1e-12)
    np.testing.assert_allclose(offset[..., 2], 0.0)
    speed = np.linalg.norm(np.diff(offset[:, 0], axis=0), axis=-1) * FPS
    np.testing.assert_allclose(speed, 0.1, rtol=1e-9)


def test_frame_drops_repeat_the_last_frame_received(keypoints):
    stuttered = noise.frame_drops(keypoints, FPS, 0.2, seed=5)
    source = [int(np.argmin(np.abs(keypoints - frame).sum(axis=(1, 2)))) for frame in stuttered]
    for frame, t in zip(stuttered, source):
        np.testing.assert_array_equal(frame, keypoints[t])
    steps = np.diff(source)
    assert source[0] == 0 and np.all(np.array(source) <= np.arange(len(source)))
    assert 0 < np.mean(steps == 0) < 0.4
    # A frame that differs from the one before is the present frame: the clip never lags after a loss.
    source = np.array(source)
    changed = np.flatnonzero(steps) + 1
    np.testing.assert_array_equal(source[changed], changed)


def test_depth_error_moves_keypoints_along_camera_rays(keypoints):
    moved = noise.depth_error(keypoints, FPS, 0.1, seed=6)
    pelvis = keypoints[:, constants.KEYPOINT_INDEX["pelvis"]].mean(axis=0)
    camera = np.array([pelvis[0] + noise.CAMERA_DISTANCE, pelvis[1], noise.CAMERA_HEIGHT])
    np.testing.assert_allclose(np.cross(keypoints - camera, moved - camera), 0.0, atol=1e-9)
    assert 0.03 < np.mean(np.linalg.norm(moved - keypoints, axis=-1)) < 0.3


def test_bad_input_and_unknown_names_raise(keypoints):
    with pytest.raises(ValueError, match="unknown corruption"):
        noise.corrupt("blur", keypoints, FPS, 0.1, seed=0)
    with pytest.raises(ValueError, match=r"\[T, K, 3\]"):
        noise.jitter(keypoints[0], FPS, 0.1, seed=0)
    assert noise.suite({"drift": [0.1, 0.2]}) == [("drift", 0.1), ("drift", 0.2)]
    assert len(noise.suite()) == sum(len(v) for v in noise.SEVERITIES.values())
