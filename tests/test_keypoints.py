"""Raw 3D keypoint files (.npz / .json) and the load_motion dispatcher."""

import json

import numpy as np
import pytest

from genmimic_jax.human import io, keypoints, motion as motion_lib
from genmimic_jax.human.motion import MotionFormatError
from genmimic_jax.human.skeleton import JOINT_INDEX, SMPL_JOINT_NAMES
from human_test_data import T_POSE_ARRAY, walking_positions

Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def _write(path, **arrays):
    if path.suffix == ".json":
        path.write_text(json.dumps({k: np.asarray(v).tolist() for k, v in arrays.items()}))
    else:
        np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("suffix", [".npz", ".json"])
def test_smpl_named_keypoints_load_unchanged(suffix, tmp_path):
    positions = walking_positions(12, 25.0)
    path = _write(tmp_path / f"kp{suffix}", positions=positions, names=list(SMPL_JOINT_NAMES), fps=25.0)
    motion = keypoints.load_keypoints(path)
    np.testing.assert_allclose(motion.positions, positions, atol=1e-6)  # Already metres, z-up, on the floor.
    assert motion.fps == 25.0 and motion.mask.all() and motion.source == str(path)
    assert motion.height == pytest.approx((0.39 + np.hypot(0.40, 0.0)) / 0.491, rel=1e-3)


def test_subset_names_map_and_units(tmp_path):
    names = ["Pelvis", "LHip", "RHip", "LKnee", "RKnee", "LAnkle", "RAnkle", "LShoulder", "RShoulder", "LElbow",
             "RElbow", "LWrist", "RWrist", "Head", "Nose"]
    smpl = ["pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
            "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "head"]
    columns = [JOINT_INDEX[n] for n in smpl]
    raw = walking_positions(8, 30.0)[:, columns] @ Z_UP_TO_Y_UP.T * 100.0  # Y-up centimetres.
    raw = np.concatenate([raw, raw[:, -1:] + 5.0], axis=1)  # A nose the map drops.
    path = _write(tmp_path / "kp.npz", positions=raw, joint_names=np.array(names), fps=np.float64(30))
    name_map = dict(zip(names, smpl)) | {"Nose": None}
    with pytest.raises(MotionFormatError, match=r"kp\.npz: unknown keypoint names Pelvis, LHip"):
        keypoints.load_keypoints(path)
    motion = keypoints.load_keypoints(path, name_map=name_map)  # Axis and unit detected.
    assert sorted(np.array(SMPL_JOINT_NAMES)[motion.mask]) == sorted(smpl)
    expected = walking_positions(8, 30.0)
    expected[..., 2] -= expected[:, [JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"]], 2].min()
    np.testing.assert_allclose(motion.positions[:, columns], expected[:, columns], atol=1e-5)
    # Missing joints hold their nearest provided ancestor (spine3 -> pelvis, left_foot -> left_ankle).
    p = motion.positions
    np.testing.assert_array_equal(p[:, JOINT_INDEX["spine3"]], p[:, JOINT_INDEX["pelvis"]])
    np.testing.assert_array_equal(p[:, JOINT_INDEX["left_foot"]], p[:, JOINT_INDEX["left_ankle"]])
    forced = keypoints.load_keypoints(path, name_map=name_map, up_axis="y", unit="cm")
    np.testing.assert_allclose(forced.positions, motion.positions)
    with pytest.raises(MotionFormatError, match="wrong units"):
        keypoints.load_keypoints(path, name_map=name_map, up_axis="y", unit="m")


def test_camera_frame_y_down_is_detected(tmp_path):
    camera = walking_positions(5, 30.0) @ np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]).T  # z-up -> y-down.
    path = _write(tmp_path / "cam.json", positions=camera, names=list(SMPL_JOINT_NAMES), fps=30)
    motion = keypoints.load_keypoints(path)
    np.testing.assert_allclose(motion.positions, walking_positions(5, 30.0), atol=1e-5)


def test_uneven_timestamps_are_resampled(tmp_path):
    times = np.array([0.0, 0.1, 0.2, 0.35, 0.4, 0.5])
    positions = T_POSE_ARRAY[None] + times[:, None, None] * np.array([0.0, 1.0, 0.0])  # 1 m/s along y.
    path = _write(tmp_path / "kp.json", positions=positions, names=list(SMPL_JOINT_NAMES), timestamps=times)
    motion = keypoints.load_keypoints(path)
    assert motion.fps == pytest.approx(10.0) and motion.num_frames == 6
    np.testing.assert_allclose(motion.positions[:, 0, 1], np.arange(6) / 10.0, atol=1e-6)


@pytest.mark.parametrize("contents,message", [
    ({"names": list(SMPL_JOINT_NAMES), "fps": 30}, "missing keys positions"),
    ({"positions": T_POSE_ARRAY[None].tolist(), "fps": 30}, "missing keys names"),
    ({"positions": T_POSE_ARRAY[None].tolist(), "names": list(SMPL_JOINT_NAMES)}, "exactly one of fps and timestamps"),
    ({"positions": T_POSE_ARRAY[None, :20].tolist(), "names": list(SMPL_JOINT_NAMES), "fps": 30},
     "expected [T, 24, 3] for 24 names"),
    ({"positions": [[1, 2], [3, 4]], "names": ["pelvis", "head"], "fps": 30}, "positions have shape (2, 2)"),
    ({"positions": np.zeros((0, 24, 3)).tolist(), "names": list(SMPL_JOINT_NAMES), "fps": 30}, "no frames"),
    ({"positions": [[[None, 0, 0]] + T_POSE_ARRAY[1:].tolist()], "names": list(SMPL_JOINT_NAMES), "fps": 30},
     "non-finite position at frame 0, keypoint pelvis"),
    ({"positions": [[["a", 0, 0]] + T_POSE_ARRAY[1:].tolist()], "names": list(SMPL_JOINT_NAMES), "fps": 30},
     "array of numbers"),
    ({"positions": T_POSE_ARRAY[None].tolist(), "names": list(SMPL_JOINT_NAMES), "fps": 0},
     "frame rate 0 is outside [1, 1000] fps"),
    ({"positions": np.stack([T_POSE_ARRAY] * 3).tolist(), "names": list(SMPL_JOINT_NAMES), "timestamps": [0, 0.2, 0.1]},
     "timestamps do not increase at frame 2"),
    ({"positions": T_POSE_ARRAY[None].tolist(), "names": ["pelvis"] * 24, "fps": 30}, "repeated keypoint names pelvis"),
    ({"positions": T_POSE_ARRAY[None, :8].tolist(), "names": list(SMPL_JOINT_NAMES[:8]), "fps": 30},
     "cannot map the essential joints right_ankle, left_shoulder"),
    ([1, 2, 3], "expected a JSON object"),
])
def test_bad_keypoint_files(contents, message, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(contents))
    with pytest.raises(MotionFormatError) as error:
        keypoints.load_keypoints(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value) and "\n" not in str(error.value)


def test_malformed_json_and_pickled_names(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"positions": [1, 2')
    with pytest.raises(MotionFormatError, match="broken.json: malformed JSON at line 1"):
        keypoints.load_keypoints(path)
    path = _write(tmp_path / "objects.npz", positions=T_POSE_ARRAY[None], names=np.array(SMPL_JOINT_NAMES, object),
                  fps=30)
    with pytest.raises(MotionFormatError, match="objects.npz: holds Python objects"):
        io.load_motion(path)
    with pytest.raises(MotionFormatError, match="kp.npz: name map refers to keypoints not in the file: Nope"):
        path = _write(tmp_path / "kp.npz", positions=T_POSE_ARRAY[None], names=np.array(SMPL_JOINT_NAMES), fps=30)
        keypoints.load_keypoints(path, name_map={"Nope": "pelvis"})


def test_load_motion_dispatch(tmp_path):
    positions = walking_positions(4, 30.0)
    canonical = tmp_path / "canonical.npz"
    motion_lib.save_npz(motion_lib.HumanMotion(positions=positions, fps=30.0, source="walk.bvh"), canonical)
    assert io.load_motion(canonical).source == "walk.bvh"  # The canonical loader keeps the stored source.
    kp = _write(tmp_path / "kp.npz", positions=positions * 100.0, names=np.array(SMPL_JOINT_NAMES), fps=30)
    np.testing.assert_allclose(io.load_motion(kp).positions, positions, atol=1e-5)  # Keypoint loader: cm detected.
    for name, message in [("clip.txt", "unsupported file type .txt"), ("missing.bvh", "no such file")]:
        if name != "missing.bvh":
            (tmp_path / name).write_text("x")
        with pytest.raises(MotionFormatError, match=f"{name}: {message}"):
            io.load_motion(tmp_path / name)


def test_smpl_parameter_files_go_to_the_smpl_loader(tmp_path, monkeypatch):
    from genmimic_jax.human import body_model

    monkeypatch.delenv("GENMIMIC_BODY_MODELS", raising=False)
    amass = tmp_path / "amass.npz"
    np.savez(amass, poses=np.zeros((3, 72)), trans=np.zeros((3, 3)), betas=np.zeros(10), gender="neutral",
             mocap_framerate=30.0)
    with pytest.raises(body_model.BodyModelError, match="no body model folder given"):
        io.load_motion(amass)
