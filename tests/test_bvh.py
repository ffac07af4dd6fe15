"""BVH parsing, writing, forward kinematics, rig mapping, unit/up-axis handling, bad input, the Bandai clips."""

import pathlib

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from genmimic_jax.human import bvh
from genmimic_jax.human.motion import MotionFormatError
from genmimic_jax.human.skeleton import JOINT_INDEX, SMPL_JOINT_NAMES
from human_test_data import RIG_SMPL, make_rig_bvh, reference_fk

Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


@pytest.fixture
def rig():
    return make_rig_bvh(np.random.default_rng(0), num_frames=25, source="rig.bvh")


def _expected_canonical(rig: bvh.Bvh, to_z_up: np.ndarray, metres_per_unit: float) -> np.ndarray:
    """Reference FK mapped to SMPL order, rotated to z-up, scaled, lowest foot point on z=0."""
    names = [joint.name for joint in rig.joints]
    world = reference_fk(rig) @ to_z_up.T * metres_per_unit
    expected = np.zeros((rig.num_frames, 24, 3))
    for source, smpl in RIG_SMPL.items():
        expected[:, JOINT_INDEX[smpl]] = world[:, names.index(source)]
    for side in ("left", "right"):  # The rig has no hand joints: they hold the wrist as a placeholder.
        expected[:, JOINT_INDEX[f"{side}_hand"]] = expected[:, JOINT_INDEX[f"{side}_wrist"]]
    feet = [JOINT_INDEX[n] for n in ("left_ankle", "right_ankle", "left_foot", "right_foot")]
    expected[..., 2] -= expected[:, feet, 2].min()
    return expected


def test_round_trip_preserves_hierarchy_and_channels(rig, tmp_path):
    path = tmp_path / "rig.bvh"
    bvh.write_bvh(rig, path)
    back = bvh.read_bvh(path)
    assert [j.name for j in back.joints] == [j.name for j in rig.joints]
    assert [j.parent for j in back.joints] == [j.parent for j in rig.joints]
    assert [j.channels for j in back.joints] == [j.channels for j in rig.joints]
    np.testing.assert_allclose(np.stack([j.offset for j in back.joints]), np.stack([j.offset for j in rig.joints]))
    np.testing.assert_allclose(back.motion, rig.motion, rtol=1e-8, atol=1e-9)
    assert back.frame_time == pytest.approx(rig.frame_time) and back.fps == 30.0
    assert list(tmp_path.iterdir()) == [path]  # No temporary file left behind.


def test_forward_kinematics_matches_reference(rig, tmp_path):
    path = tmp_path / "rig.bvh"
    bvh.write_bvh(rig, path)
    positions, rotations = bvh.forward_kinematics(bvh.read_bvh(path))
    np.testing.assert_allclose(positions, reference_fk(rig), atol=1e-6)
    identity = np.broadcast_to(np.eye(3), rotations.shape)
    np.testing.assert_allclose(rotations @ np.swapaxes(rotations, -1, -2), identity, atol=1e-9)
    # End sites follow their joint: the toe tip is 5 cm from the toe.
    names = [j.name for j in rig.joints]
    toe_to_tip = positions[:, names.index("LeftToe_EndSite")] - positions[:, names.index("LeftToe")]
    np.testing.assert_allclose(np.linalg.norm(toe_to_tip, axis=-1), 5.0, atol=1e-9)


@pytest.mark.parametrize("axes", ["ZXY", "XYZ", "YZX", "ZYX", "XZY", "YXZ", "ZX", "Y"])
def test_euler_matrices_match_scipy(axes):
    degrees = np.random.default_rng(1).uniform(-200.0, 200.0, (7, 4, len(axes)))
    expected = Rotation.from_euler(axes, degrees.reshape(-1, len(axes)), degrees=True).as_matrix()
    np.testing.assert_allclose(bvh.euler_matrices(axes, degrees), expected.reshape(7, 4, 3, 3), atol=1e-12)


def test_position_channels_replace_offset(rig):
    positions, _ = bvh.forward_kinematics(rig)
    names = [j.name for j in rig.joints]
    spine, hips = names.index("Spine"), names.index("Hips")
    columns = [c for j in rig.joints for c in j.channels]
    start = sum(len(j.channels) for j in rig.joints[:spine])
    local = {c[0]: rig.motion[:, start + i] for i, c in enumerate(rig.joints[spine].channels) if c.endswith("position")}
    distance = np.linalg.norm(positions[:, spine] - positions[:, hips], axis=-1)
    np.testing.assert_allclose(distance, np.linalg.norm(np.stack([local["X"], local["Y"], local["Z"]], -1), axis=-1))
    assert len(columns) == rig.motion.shape[1]


@pytest.mark.parametrize("scale,unit", [(1.0, "cm"), (0.01, "m"), (10.0, "mm")])
def test_units_are_detected(scale, unit, tmp_path):
    rig = make_rig_bvh(np.random.default_rng(1), scale=scale, source=f"rig_{unit}.bvh")
    motion = bvh.bvh_to_motion(rig)
    expected = _expected_canonical(rig, Y_UP_TO_Z_UP, {"cm": 0.01, "m": 1.0, "mm": 0.001}[unit])
    np.testing.assert_allclose(motion.positions, expected, atol=1e-5)
    assert motion.height == pytest.approx(0.83 / 0.491, rel=1e-3)
    assert set(np.array(SMPL_JOINT_NAMES)[~motion.mask]) == {"left_hand", "right_hand"}


def test_z_up_rig_is_detected_and_matches_y_up():
    rig_y = make_rig_bvh(np.random.default_rng(2), source="y.bvh")
    rig_z = make_rig_bvh(np.random.default_rng(2), z_up=True, source="z.bvh")
    motion_z = bvh.bvh_to_motion(rig_z)
    np.testing.assert_allclose(motion_z.positions, _expected_canonical(rig_z, np.eye(3), 0.01), atol=1e-5)
    # Zero rotations: both rigs give the same rest pose in the canonical frame.
    rest_y = bvh.Bvh(rig_y.joints, rig_y.frame_time, np.where(_rotation_columns(rig_y), 0.0, rig_y.motion), "y.bvh")
    rest_z = bvh.Bvh(rig_z.joints, rig_z.frame_time, np.where(_rotation_columns(rig_z), 0.0, rig_z.motion), "z.bvh")
    np.testing.assert_allclose(bvh.bvh_to_motion(rest_y).positions, bvh.bvh_to_motion(rest_z).positions, atol=1e-5)
    head, pelvis = JOINT_INDEX["head"], JOINT_INDEX["pelvis"]
    assert np.all(motion_z.positions[:, head, 2] > motion_z.positions[:, pelvis, 2] + 0.3)


def _rotation_columns(rig: bvh.Bvh) -> np.ndarray:
    return np.array([c.endswith("rotation") for j in rig.joints for c in j.channels])


def test_flags_override_detection(rig):
    with pytest.raises(MotionFormatError, match=r"rig\.bvh: .*wrong units"):
        bvh.bvh_to_motion(rig, unit="m")  # A centimetre rig read as metres is 80 m tall.
    forced = bvh.bvh_to_motion(rig, up_axis="y", unit=0.01)
    np.testing.assert_allclose(forced.positions, bvh.bvh_to_motion(rig).positions)
    lying = bvh.bvh_to_motion(rig, up_axis="z")  # Taken at its word: the subject lies along y.
    head_from_ankle = lying.positions[:, JOINT_INDEX["head"]] - lying.positions[:, JOINT_INDEX["left_ankle"]]
    assert np.all(head_from_ankle[:, 1] > 1.2) and np.all(np.abs(head_from_ankle[:, 2]) < 0.4)


def test_orientations_are_global_rotations_in_z_up(rig):
    motion = bvh.bvh_to_motion(rig)
    _, rotations = bvh.forward_kinematics(rig)
    names = [j.name for j in rig.joints]
    from scipy.spatial.transform import Rotation

    knee = Rotation.from_quat(np.roll(motion.orientations[:, JOINT_INDEX["left_knee"]], -1, axis=-1)).as_matrix()
    np.testing.assert_allclose(knee, Y_UP_TO_Z_UP @ rotations[:, names.index("LeftLeg")], atol=1e-6)


def test_user_name_map_and_missing_joints(rig):
    renamed = bvh.Bvh(tuple(bvh.BvhJoint(f"j{i}", j.parent, j.offset, j.channels) for i, j in enumerate(rig.joints)),
                      rig.frame_time, rig.motion, "renamed.bvh")
    with pytest.raises(MotionFormatError, match=r"renamed\.bvh: cannot map the essential joints pelvis, left_hip"):
        bvh.bvh_to_motion(renamed)
    names = [j.name for j in rig.joints]
    name_map = {f"j{names.index(source)}": smpl for source, smpl in RIG_SMPL.items() if smpl != "spine1"}
    motion = bvh.bvh_to_motion(renamed, name_map=name_map)
    assert not motion.mask[JOINT_INDEX["spine1"]]
    p = motion.positions
    np.testing.assert_array_equal(p[:, JOINT_INDEX["spine1"]], p[:, JOINT_INDEX["pelvis"]])
    with pytest.raises(MotionFormatError, match="joints not in the file: Nope"):
        bvh.bvh_to_motion(renamed, name_map={"Nope": "pelvis"})
    with pytest.raises(MotionFormatError, match="not SMPL joints: tail"):
        bvh.bvh_to_motion(renamed, name_map={"j0": "tail"})


def test_namespaced_mixamo_names_are_mapped(rig):
    mixamo = {"LeftToe": "LeftToeBase", "RightToe": "RightToeBase"}
    joints = tuple(bvh.BvhJoint("mixamorig:" + mixamo.get(j.name, j.name), j.parent, j.offset, j.channels)
                   for j in rig.joints)
    motion = bvh.bvh_to_motion(bvh.Bvh(joints, rig.frame_time, rig.motion, "mixamo.bvh"))
    np.testing.assert_allclose(motion.positions, bvh.bvh_to_motion(rig).positions)


@pytest.mark.parametrize("rig_name", sorted(bvh.RIG_JOINT_MAPS))
def test_known_rigs_are_recognised_by_joint_names(rig_name, rig):
    """The test rig renamed to each known rig's names maps to exactly the SMPL joints that rig's map lists."""
    source_of = {smpl: source for source, smpl in bvh.RIG_JOINT_MAPS[rig_name].items()}
    test_rig_smpl = RIG_SMPL | {"LeftHand_EndSite": "left_hand", "RightHand_EndSite": "right_hand"}
    names = [source_of.get(test_rig_smpl.get(j.name), f"extra{i}") for i, j in enumerate(rig.joints)]
    renamed = tuple(bvh.BvhJoint(name, j.parent, j.offset, j.channels) for name, j in zip(names, rig.joints))
    motion = bvh.bvh_to_motion(bvh.Bvh(renamed, rig.frame_time, rig.motion, f"{rig_name}.bvh"))
    assert set(np.array(SMPL_JOINT_NAMES)[motion.mask]) == set(bvh.RIG_JOINT_MAPS[rig_name].values())


BAD_CASES = ("truncated_motion", "truncated_hierarchy", "cut_mid_hierarchy", "malformed_number", "nan",
             "zero_frames", "wrong_channel_count", "bad_channel", "zero_frame_time", "not_bvh")


def _bad_file(text: str, case: str) -> tuple[str, str]:
    """(file content, expected message) for one kind of broken BVH made from a good one."""
    hierarchy, motion = text.split("MOTION\n")
    head_lines, lines = hierarchy.splitlines(), motion.splitlines()
    frames = [row.split() for row in lines[2:]]

    def with_first_frame(values: list[str]) -> str:
        return hierarchy + "MOTION\n" + "\n".join(lines[:2] + [" ".join(values)] + lines[3:]) + "\n"

    return {
        "truncated_motion": ("\n".join(text.splitlines()[:-2]) + "\n", "truncated: header says 25 frames, found 23"),
        "truncated_hierarchy": ("\n".join(head_lines[: len(head_lines) // 2]), "no MOTION section"),
        "cut_mid_hierarchy": ("\n".join(head_lines[: len(head_lines) // 2]) + "\nMOTION\n" + motion, "file ends"),
        "malformed_number": (with_first_frame(frames[0][:4] + ["1.2.3"] + frames[0][5:]), "malformed number '1.2.3'"),
        "nan": (with_first_frame(frames[0][:4] + ["nan"] + frames[0][5:]), "non-finite value in frame 0"),
        "zero_frames": (hierarchy + "MOTION\nFrames: 0\nFrame Time: 0.0333333\n", "no frames"),
        "wrong_channel_count": (with_first_frame(frames[0][:-1]), "has 68 values, the hierarchy has 69 channels"),
        "bad_channel": (text.replace("Yrotation", "Wrotation", 1), "bad channels"),
        "zero_frame_time": (text.replace(lines[1], "Frame Time: 0"), "frame time must be positive"),
        "not_bvh": ("hello\n", "no MOTION section"),
    }[case]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_gives_one_line_error_naming_the_file(case, rig, tmp_path):
    assert sum(len(j.channels) for j in rig.joints) == 69
    content, message = _bad_file(bvh.format_bvh(rig), case)
    path = tmp_path / f"{case}.bvh"
    path.write_text(content)
    with pytest.raises(MotionFormatError) as error:
        bvh.load_bvh(path)
    assert str(error.value).startswith(f"{path}: ") and "\n" not in str(error.value)
    assert message in str(error.value)


def test_non_text_file_is_rejected(tmp_path):
    path = tmp_path / "binary.bvh"
    path.write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(MotionFormatError, match="binary.bvh: cannot read as BVH text"):
        bvh.load_bvh(path)


# --- The shared Bandai Namco clips (Y-up, centimetres, 30 fps). ---

def _bandai_clips(shared_dir: pathlib.Path) -> list[pathlib.Path]:
    clips = sorted((shared_dir / "motions" / "bandai_namco").glob("*.bvh"))
    assert len(clips) == 9
    return clips


def test_bandai_clips_have_right_scale_axes_and_floor(shared_dir):
    feet = [JOINT_INDEX[n] for n in ("left_ankle", "right_ankle", "left_foot", "right_foot")]
    for clip in _bandai_clips(shared_dir):
        motion = bvh.load_bvh(clip)
        p = motion.positions
        assert motion.fps == 30.0 and p.shape[1:] == (24, 3)
        assert 1.5 <= motion.height <= 1.9, (clip.name, motion.height)
        assert set(np.array(SMPL_JOINT_NAMES)[~motion.mask]) == {"spine2", "left_hand", "right_hand"}
        # The file's own floor (y=0, kept with on_floor=False) lies just under the feet at rest: the toe joints
        # sit a few centimetres above the sole.
        raw = bvh.load_bvh(clip, on_floor=False).positions
        assert 0.0 <= raw[0, feet, 2].min() < 0.06, (clip.name, raw[0, feet, 2].min())
        assert p[:, feet, 2].min() == pytest.approx(0.0, abs=1e-6)
        assert p[0, feet, 2].min() < 0.03  # Feet on the floor at rest (first frame).
        assert np.median(p[:, feet, 2].min(axis=1)) < 0.03  # Mostly standing on the floor.
        head_over_pelvis = p[:, JOINT_INDEX["head"], 2] - p[:, JOINT_INDEX["pelvis"], 2]
        assert np.all(head_over_pelvis > 0.0) and np.mean(head_over_pelvis > 0.3) > 0.9  # z is up (dance bends).
        # Not mirrored: the left hip is on the left of the facing direction given by the toes.
        toes = (p[:, [JOINT_INDEX["left_foot"], JOINT_INDEX["right_foot"]]]
                - p[:, [JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"]]]).sum(axis=1)
        left_of_facing = np.cross([0.0, 0.0, 1.0], toes)
        hips = p[:, JOINT_INDEX["left_hip"]] - p[:, JOINT_INDEX["right_hip"]]
        assert np.mean(np.sum(hips * left_of_facing, axis=-1) > 0) > 0.9, clip.name


def test_bandai_walk_moves_forward_horizontally(shared_dir):
    motion = bvh.load_bvh(shared_dir / "motions" / "bandai_namco" / "dataset-1_walk_normal_001.bvh")
    p = motion.positions
    travel = p[-1, JOINT_INDEX["pelvis"]] - p[0, JOINT_INDEX["pelvis"]]
    assert np.linalg.norm(travel[:2]) > 3.0 and abs(travel[2]) < 0.1
    heading = travel[:2] / np.linalg.norm(travel[:2])
    for side in ("left", "right"):  # Walks forwards: toes ahead of the ankle whenever the foot is planted.
        ankle, toe = p[:, JOINT_INDEX[f"{side}_ankle"]], p[:, JOINT_INDEX[f"{side}_foot"]]
        planted = (ankle[:, 2] < 0.1) & (toe[:, 2] < 0.02)
        assert planted.sum() > 20 and np.all((toe - ankle)[planted, :2] @ heading > 0.05)
    left = np.array([-heading[1], heading[0]])
    shoulders = p[:, JOINT_INDEX["left_shoulder"], :2] - p[:, JOINT_INDEX["right_shoulder"], :2]
    assert np.all(shoulders @ left > 0.1)
