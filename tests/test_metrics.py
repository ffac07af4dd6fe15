"""Tracking metrics on cases with known answers."""

import numpy as np
import pytest

from genmimic_jax.eval import metrics
from genmimic_jax.robot.g1 import constants

K = len(constants.KEYPOINT_NAMES)


def _clip(rng: np.random.Generator, frames: int = 40):
    keypoints = rng.normal(size=(frames, K, 3)) * 0.3 + np.array([0.0, 0.0, 0.8])
    qpos = np.tile(np.concatenate([[0.0, 0.0, 0.75, 1.0, 0.0, 0.0, 0.0], constants.DEFAULT_POSE]), (frames, 1))
    qpos[:, 7:] += rng.normal(size=(frames, constants.NUM_JOINTS)) * 0.2
    return keypoints, qpos


def test_perfect_tracking_scores_zero_error_and_full_success():
    keypoints, qpos = _clip(np.random.default_rng(0))
    per_clip = {f"clip{i}": metrics.clip_metrics(keypoints, keypoints, qpos, qpos, fps=50.0, failed=False,
                                                 success_threshold=0.1) for i in range(3)}
    for value in per_clip.values():
        assert value["success"] == 1.0 and value["failed"] == 0.0
        for key in metrics.AVERAGED_KEYS:
            assert value[key] == 0.0, key
    overall = metrics.summarize(list(per_clip.values()))
    assert overall["success_rate"] == 100.0 and overall["failure_rate"] == 0.0
    assert "OVERALL" in metrics.format_table(per_clip, overall)


def test_constant_offset_gives_that_offset():
    keypoints, qpos = _clip(np.random.default_rng(1))
    offset = np.array([0.03, -0.04, 0.0])  # 50 mm
    shifted = keypoints + offset
    assert metrics.mpjpe_mm(shifted, keypoints) == pytest.approx(50.0)
    assert metrics.peak_error_mm(shifted, keypoints) == pytest.approx(50.0)
    for value in metrics.group_errors_mm(shifted, keypoints).values():
        assert value == pytest.approx(50.0)
    # A global translation moves every keypoint alike: nothing root-relative and no velocity changes.
    assert metrics.root_relative_mpjpe_mm(shifted, keypoints) == pytest.approx(0.0, abs=1e-9)
    assert metrics.velocity_error_mm_s(shifted, keypoints, fps=30.0) == pytest.approx(0.0, abs=1e-9)
    joint_offset = qpos.copy()
    joint_offset[:, 7:] += 0.1
    assert metrics.joint_error_rad(joint_offset, qpos) == pytest.approx(0.1)


def test_one_keypoint_offset_lands_in_its_group_only():
    keypoints, _ = _clip(np.random.default_rng(2))
    moved = keypoints.copy()
    hand = constants.KEYPOINT_INDEX["left_hand"]
    moved[:, hand, 2] += 0.2
    groups = metrics.group_errors_mm(moved, keypoints)
    members = sum(1 for g in constants.KEYPOINT_GROUPS.values() if g == "end_effector")
    assert groups["end_effector"] == pytest.approx(200.0 / members)
    assert groups["upper"] == 0.0 and groups["lower"] == 0.0
    assert metrics.mpjpe_mm(moved, keypoints) == pytest.approx(200.0 / K)


def test_peak_error_is_the_worst_frame_where_the_mean_hides_it():
    keypoints, _ = _clip(np.random.default_rng(4), frames=100)
    lunged = keypoints.copy()
    lunged[60] += np.array([0.0, 0.25, 0.0])  # one frame 250 mm off
    assert metrics.peak_error_mm(lunged, keypoints) == pytest.approx(250.0)
    assert metrics.mpjpe_mm(lunged, keypoints) == pytest.approx(2.5)


def test_root_relative_error_sees_pose_but_not_translation():
    keypoints, _ = _clip(np.random.default_rng(3))
    drift = np.linspace(0.0, 1.0, keypoints.shape[0])[:, None, None] * np.array([1.0, 0.5, 0.0])
    bent = keypoints.copy()
    bent[:, constants.KEYPOINT_INDEX["right_hand"]] += np.array([0.0, 0.0, 0.1])
    assert metrics.root_relative_mpjpe_mm(bent + drift, keypoints) == pytest.approx(100.0 / K)
    assert metrics.mpjpe_mm(bent + drift, keypoints) > 100.0


def test_velocity_error_of_a_linear_drift():
    keypoints, _ = _clip(np.random.default_rng(4))
    fps = 25.0
    speed = np.array([0.3, 0.4, 0.0])  # 0.5 m/s
    frames = np.arange(keypoints.shape[0])[:, None, None] / fps
    assert metrics.velocity_error_mm_s(keypoints + frames * speed, keypoints, fps) == pytest.approx(500.0)
    assert np.isnan(metrics.velocity_error_mm_s(keypoints[:1], keypoints[:1], fps))


def test_success_needs_no_fall_and_small_error():
    keypoints, qpos = _clip(np.random.default_rng(5))
    near = metrics.clip_metrics(keypoints + 0.05, keypoints, qpos, qpos, 50.0, failed=False, success_threshold=0.1)
    far = metrics.clip_metrics(keypoints + 0.1, keypoints, qpos, qpos, 50.0, failed=False, success_threshold=0.1)
    failing = metrics.clip_metrics(keypoints, keypoints, qpos, qpos, 50.0, failed=True, success_threshold=0.1)
    assert near["success"] == 1.0 and far["success"] == 0.0 and failing["success"] == 0.0
    overall = metrics.summarize([near, far, failing])
    assert overall["success_rate"] == pytest.approx(100.0 / 3)
    assert overall["failure_rate"] == pytest.approx(100.0 / 3)


def test_mismatched_shapes_raise():
    keypoints, qpos = _clip(np.random.default_rng(6))
    with pytest.raises(ValueError, match="equal shapes"):
        metrics.mpjpe_mm(keypoints, keypoints[:-1])
    with pytest.raises(ValueError, match="equal shapes"):
        metrics.joint_error_rad(qpos, qpos[:, :30])
    with pytest.raises(ValueError, match="no clips"):
        metrics.summarize([])
