"""Retargeting end to end on small synthetic motions: a scaled-up G1 as the human, and an SMPL parameter file."""

import json

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial import ConvexHull

import configs.retarget
from genmimic_jax.errors import InputError
from genmimic_jax.human import synthetic_body_model
from genmimic_jax.human.io import load_motion
from genmimic_jax.human.motion import HumanMotion, MotionFormatError, save_npz, trim
from genmimic_jax.human.skeleton import JOINT_INDEX, SMPL_JOINT_NAMES
from genmimic_jax.retarget import contact, dataset, io, kinematics, optimize, pipeline, scale_fit
from genmimic_jax.retarget import balance as retarget_balance
from genmimic_jax.retarget import report as retarget_report
from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model
from test_kinematics import body_frames

FPS = 30.0
HUMAN_SCALE = 1.3


def small_config():
    """Few iterations: one compile serves every test here (the solve is jitted per bucket and iteration counts)."""
    config = configs.retarget.get_config()
    config.track_iterations, config.contact_iterations, config.cg_iterations = 3, 2, 8
    return config


def standing_qpos(num_frames: int) -> np.ndarray:
    """qpos [T, 36] of the G1 standing in its default pose at the origin (float64, to be edited)."""
    return np.tile(np.concatenate([[0.0, 0.0, constants.DEFAULT_ROOT_HEIGHT, 1, 0, 0, 0], constants.DEFAULT_POSE]),
                   (num_frames, 1))


def robot_trajectory(num_frames: int = 60) -> np.ndarray:
    """qpos [T, 36]: standing on the floor, arms and waist swinging, legs still."""
    t = np.arange(num_frames) / FPS
    qpos = standing_qpos(num_frames)
    joint = lambda name: 7 + constants.JOINT_INDEX[name]  # noqa: E731
    qpos[:, joint("left_shoulder_pitch_joint")] += 0.8 * np.sin(2 * np.pi * 0.7 * t)
    qpos[:, joint("right_shoulder_pitch_joint")] -= 0.8 * np.sin(2 * np.pi * 0.7 * t)
    qpos[:, joint("left_elbow_joint")] += 0.5 * np.sin(2 * np.pi * 0.5 * t)
    qpos[:, joint("waist_yaw_joint")] += 0.3 * np.sin(2 * np.pi * 0.4 * t)
    return qpos.astype(np.float32)


def robot_keypoints(qpos: np.ndarray) -> np.ndarray:
    tree = kinematics.g1_tree()
    frames = body_frames(tree, qpos)
    return np.asarray(kinematics.sites(tree, frames, tree.site_index(constants.KEYPOINT_SITES)))


def human_from_robot(qpos: np.ndarray) -> HumanMotion:
    """A 'human' that is the G1 scaled by HUMAN_SCALE, on the SMPL skeleton (joints the G1 lacks interpolated)."""
    keypoints = robot_keypoints(qpos) * HUMAN_SCALE
    joints = np.zeros((len(qpos), len(SMPL_JOINT_NAMES), 3), np.float32)
    for name, smpl in constants.KEYPOINT_TO_SMPL.items():
        joints[:, JOINT_INDEX[smpl]] = keypoints[:, constants.KEYPOINT_INDEX[name]]
    lerp = lambda a, b, w: (1 - w) * joints[:, JOINT_INDEX[a]] + w * joints[:, JOINT_INDEX[b]]  # noqa: E731
    joints[:, JOINT_INDEX["spine1"]] = lerp("pelvis", "spine3", 0.35)
    joints[:, JOINT_INDEX["spine2"]] = lerp("pelvis", "spine3", 0.7)
    joints[:, JOINT_INDEX["neck"]] = lerp("spine3", "head", 0.5)
    for side in ("left", "right"):
        joints[:, JOINT_INDEX[f"{side}_collar"]] = lerp("spine3", f"{side}_shoulder", 0.5)
    return HumanMotion(positions=joints, fps=FPS, source="robot_as_human")


@pytest.fixture(scope="module")
def retargeter():
    return pipeline.Retargeter(small_config())


@pytest.fixture(scope="module")
def robot_as_human():
    qpos = robot_trajectory()
    human = human_from_robot(qpos)
    return qpos, human


def test_scale_fit_recovers_the_robot(robot_as_human):
    qpos, human = robot_as_human
    fit = scale_fit.fit_subject(human)
    assert fit.root_scale == pytest.approx(1 / HUMAN_SCALE, rel=5e-3)  # the ankle keypoint swings with ankle pitch
    planted = contact.detect_planted(human)
    assert planted.all(), "a human standing still has both feet flat on the floor"
    targets = scale_fit.build_targets(human, fit, planted)
    error = np.linalg.norm(targets.positions - robot_keypoints(qpos), axis=-1)
    assert np.median(error) < 0.005
    assert error.max() < 0.03  # the waist turns the chest a little off the frame the targets assume


def test_retarget_tracks_and_keeps_feet_planted(retargeter, robot_as_human):
    _, human = robot_as_human
    result = retargeter([human])[0]
    report = result.report
    assert result.motion.qpos.shape == (human.num_frames, constants.QPOS_SIZE)
    assert result.motion.keypoints.shape == (human.num_frames, len(constants.KEYPOINT_NAMES), 3)
    assert report["joint_limit_violations"] == 0
    for group in ("pelvis", "feet", "hands", "upper", "lower"):
        assert report["group_error_mm"][group] < 20.0, group
    assert report["limb_direction_deg"]["mean"] < 3.0
    assert report["heading_error_deg"] < 2.0
    assert report["foot_skating_cm_s"] < 0.5
    assert report["flat_planted_sole_height_mm"]["max_abs"] < 5.0
    assert report["foot_penetration_mm"] < 2.0
    assert report["balance"]["supported_fraction"] == 1.0 and report["balance"]["off_balance_fraction"] == 0.0
    np.testing.assert_allclose(np.linalg.norm(result.motion.qpos[:, 3:7], axis=-1), 1.0, atol=1e-5)


def test_a_solve_started_from_a_solution_stays_there(retargeter, robot_as_human):
    """Dynamic balance re-solves from the previous solution (`optimize.solution_of_qpos`) with one tracking
    iteration: unchanged targets leave the solution (nearly) where it was; from the initial guess the same
    iterations end further off."""
    _, human = robot_as_human
    prepared = [retargeter.prepare(human)]
    length = optimize.bucket_length(human.num_frames, retargeter.config.min_bucket)
    problem, init, _ = optimize.pack([p.clip for p in prepared], length)
    solved = retargeter.solve(prepared, length)
    frames = slice(0, human.num_frames)

    def keypoints_after_one_iteration(start):
        return retargeter.run_solver(length, problem, start, track_iterations=1)[1][frames]

    warm = np.linalg.norm(keypoints_after_one_iteration(optimize.solution_of_qpos(solved.qpos))
                          - solved.points[frames], axis=-1)
    cold = np.linalg.norm(keypoints_after_one_iteration(init) - solved.points[frames], axis=-1)
    assert warm.mean() < 0.002 < cold.mean() and warm.max() < 0.015 < cold.max()  # ~1 / 3.5 mm, ~8 / 27 mm


def test_balance_measures_the_centre_of_mass_against_the_feet_on_the_floor():
    foot = np.array([[0.0, 0.0, 0.0], [0.2, 0.0, 0.0], [0.0, 0.1, 0.0], [0.2, 0.1, 0.0]])
    standing = np.stack([foot, foot + [0.0, 0.3, 0.2]])  # the right foot 0.2 m up: stands on the left one
    corners = np.stack([standing] * 4)
    corners[3, 0, :, 2] = 0.2  # both feet up
    com = np.array([[0.1, 0.05, 0.7], [0.1, 0.3, 0.7], [0.3, 0.2, 0.7], [0.1, 0.05, 0.7]])
    outside = retarget_balance.com_outside_support(com, corners)
    np.testing.assert_allclose(outside[:3], [0.0, 0.2, np.hypot(0.1, 0.1)], rtol=1e-5)
    assert np.isnan(outside[3])
    # Both feet down, 0.6 m apart: the centre of mass beside the long edge from (0, 0.1) to (0.6, 0.12).
    apart = np.stack([foot, foot + [0.6, 0.02, 0.0]])[None]
    slope = 0.02 / 0.6
    np.testing.assert_allclose(retarget_balance.com_outside_support(np.array([[0.45, 0.16, 0.7]]), apart),
                               (0.16 - 0.1 - 0.45 * slope) / np.hypot(1.0, slope), rtol=1e-5)
    # Random feet and centres of mass against scipy's convex hull (Qhull): 0 inside, the distance to the nearest
    # hull edge outside.
    rng = np.random.default_rng(0)
    corners = rng.uniform(-0.3, 0.3, (500, 2, 4, 3))
    corners[..., 2] = rng.uniform(0.0, 0.02, (500, 2, 4))
    com = rng.uniform(-0.3, 0.3, (500, 3))
    outside = retarget_balance.com_outside_support(com, corners)
    for frame in range(500):
        support = corners[frame].reshape(-1, 3)
        support = support[support[:, 2] < retarget_balance.SUPPORT_HEIGHT, :2]
        if len(support) < 3:
            continue
        hull = ConvexHull(support)
        point = com[frame, :2]
        if np.all(hull.equations[:, :2] @ point + hull.equations[:, 2] <= 0):
            assert outside[frame] == 0.0
            continue
        vertices = support[hull.vertices]
        nearest = min(np.linalg.norm(point - (a + np.clip((point - a) @ (b - a) / ((b - a) @ (b - a)), 0, 1) * (b - a)))
                      for a, b in zip(vertices, np.roll(vertices, -1, axis=0)))
        assert outside[frame] == pytest.approx(nearest, abs=1e-9)
    assert np.isnan(retarget_balance.com_outside_support(np.full((1, 3), np.nan), corners[:1]))[0]
    balance = retarget_report._balance(np.array([0.0, 0.05, 0.05, np.nan, 0.05, 0.05, 0.05, 0.0]), 10.0, "zmp")
    assert balance["supported_fraction"] == 7 / 8 and balance["off_balance_fraction"] == 5 / 7
    assert balance["longest_off_balance_s"] == pytest.approx(0.3)
    assert balance["max_zmp_outside_mm"] == pytest.approx(50.0)


def test_zero_moment_point_of_a_cart_on_a_table_and_of_a_spinning_body():
    """One body 0.8 m up: accelerating along x at a, the floor must push at x - 0.8 a / g (the cart-table model);
    spinning up about y at alpha, at -I alpha / (m g); falling at g, nowhere."""
    fps, t = 100.0, np.arange(100) / 100.0
    mass, inertia = np.array([2.0]), np.diag([0.1, 0.5, 0.1])[None]
    rest = np.broadcast_to(np.eye(3), (100, 1, 3, 3))
    sliding = np.stack([0.5 * 3.0 * t**2, 0.0 * t, 0.8 + 0.0 * t], -1)[:, None]
    zmp = retarget_balance.zero_moment_point(sliding[:, 0], sliding, rest, mass, inertia, fps)
    np.testing.assert_allclose(zmp[:, 0], sliding[:, 0, 0] - 0.8 * 3.0 / retarget_balance.GRAVITY, atol=1e-6)
    np.testing.assert_allclose(zmp[:, 1:], 0.0, atol=1e-6)
    angle = 0.5 * 4.0 * t**2
    spinning = np.stack([np.cos(angle), 0 * t, np.sin(angle), 0 * t, 1 + 0 * t, 0 * t, -np.sin(angle), 0 * t,
                         np.cos(angle)], -1).reshape(100, 1, 3, 3)  # about y
    standing = np.broadcast_to([0.0, 0.0, 0.8], (100, 1, 3))
    zmp = retarget_balance.zero_moment_point(standing[:, 0], standing, spinning, mass, inertia, fps)
    # The angular velocity comes from neighbouring frames (from one at the ends), its derivative from a fit over 21
    # frames (0.2 s): exact farther than 10 frames from the ends.
    np.testing.assert_allclose(zmp[11:-11, 0], -0.5 * 4.0 / (2.0 * retarget_balance.GRAVITY), atol=1e-4)
    falling = np.stack([0 * t, 0 * t, 2.0 - 0.5 * retarget_balance.GRAVITY * t**2], -1)[:, None]
    assert np.isnan(retarget_balance.zero_moment_point(falling[:, 0], falling, rest, mass, inertia, fps)[:, :2]).all()
    too_short = retarget_balance.zero_moment_point(sliding[:4, 0], sliding[:4], rest[:4], mass, inertia, fps)
    assert np.isnan(too_short[:, :2]).all()


def test_centroidal_angular_momentum_matches_mujoco():
    """The G1 swinging every joint and turning as a whole: its angular momentum about its centre of mass from the
    bodies' poses alone, as MuJoCo computes it from the joint velocities (`mj_subtreeVel`)."""
    import mujoco

    model = g1_model.load_model(scene=False)
    data = mujoco.MjData(model)
    fps, frames = 200.0, 80
    t = np.arange(frames) / fps
    rng = np.random.default_rng(0)
    qpos = standing_qpos(frames)
    qpos[:, 7:] += 0.4 * np.sin(2 * np.pi * 0.5 * t[:, None] + rng.uniform(0, 2 * np.pi, 29))
    qpos[:, :3] += 0.2 * np.sin(2 * np.pi * t[:, None] + [0.0, 1.0, 2.0])
    qpos[:, 3:7] = np.stack([np.cos(0.6 * t), 0.2 * np.sin(0.6 * t), 0.1 * np.sin(0.6 * t), np.sin(0.6 * t)], -1)
    qpos[:, 3:7] /= np.linalg.norm(qpos[:, 3:7], axis=-1, keepdims=True)
    com, body_com, body_rotation, expected = [], [], [], []
    for frame in range(frames):
        data.qpos[:] = qpos[frame]
        ahead, behind = np.clip([frame + 1, frame - 1], 0, frames - 1)
        mujoco.mj_differentiatePos(model, data.qvel, (ahead - behind) / fps, qpos[behind], qpos[ahead])
        mujoco.mj_forward(model, data)
        mujoco.mj_subtreeVel(model, data)
        com.append(data.subtree_com[1].copy())
        body_com.append(data.xipos[1:].copy())
        body_rotation.append(data.xmat[1:].reshape(-1, 3, 3).copy())
        expected.append(data.subtree_angmom[1].copy())
    tree = kinematics.g1_tree()
    momentum = retarget_balance.centroidal_angular_momentum(np.array(com), np.array(body_com), np.array(body_rotation),
                                                            tree.body_mass, tree.body_inertia, fps)
    expected = np.array(expected)
    inner = slice(5, -5)
    assert np.abs(expected[inner]).max() > 1.0  # kg m^2/s: a motion with momentum
    np.testing.assert_allclose(momentum[inner], expected[inner], atol=0.01 * np.abs(expected[inner]).max())


def test_hold_shift_moves_the_upper_body_over_the_feet_only_in_poses_held_off_balance():
    foot = np.array([[0.0, 0.0, 0.0], [0.2, 0.0, 0.0], [0.0, 0.1, 0.0], [0.2, 0.1, 0.0]])
    corners = np.stack([np.stack([foot, foot + [0.0, 0.3, 0.2]])] * 60)  # standing on the left foot
    com = np.tile([0.1, 0.05, 0.7], (60, 1))
    com[10:30, 1] = 0.15  # a pose held 5 cm beside the foot for 0.67 s
    com[40:43, 1] = 0.15  # a step: 0.1 s beside it
    com[50:56, 1] = 0.5  # 0.2 s far beside it: a move made dynamically
    np.testing.assert_allclose(retarget_balance.support_offset(com[[0, 20]], corners[:2]), [[0.0, 0.0], [0.0, -0.05]],
                               atol=1e-12)
    shifts = retarget_balance.hold_shift(com, corners, fps=30.0, hold_seconds=0.2, max_outside=0.1, max_speed=0.25,
                                         margin=0.02, ramp_seconds=0.1, gain=1.25, flat_feet_only=True)
    index = constants.KEYPOINT_INDEX
    move = -(0.05 + 0.02) * 1.25
    for frame in (13, 20, 26):
        np.testing.assert_allclose(shifts[frame, index["pelvis"]], [0.0, move, 0.0], atol=1e-6)
        np.testing.assert_allclose(shifts[frame, index["left_wrist"]], [0.0, move, 0.0], atol=1e-6)
        np.testing.assert_allclose(shifts[frame, index["left_knee"]], [0.0, move / 2, 0.0], atol=1e-6)
        assert not shifts[frame, [index["left_ankle"], index["right_toe"]]].any()
    assert 0.0 > shifts[9, index["pelvis"], 1] > move  # ramps in
    assert np.abs(shifts[:5]).max() < 1e-9 and np.abs(shifts[36:]).max() < 1e-9  # the step and the dynamic move stay
    assert not retarget_balance.hold_shift(com, corners, 30.0, 0.0, 0.1, 0.25, 0.02, 0.1, 1.25, True).any()  # 0 s: off
    # The right toe tip on the floor as well: inside the polygon, but held only on the flat left foot.
    tiptoe = corners.copy()
    tiptoe[:, 1, :2, 2] = 0.0  # two of its four corners down
    tiptoe[:, 1, :, 1] = 0.18
    assert retarget_balance.com_outside_support(com[20:21], tiptoe[20:21])[0] == 0.0
    for flat_feet_only, moved in ((True, True), (False, False)):
        shifted = retarget_balance.hold_shift(com, tiptoe, 30.0, 0.2, 0.1, 0.25, 0.02, 0.1, 1.25, flat_feet_only)
        assert bool(np.abs(shifted[20]).max() > 0.05) == moved


def test_balance_config_holds_the_shared_dance_toe_touch_over_the_flat_foot_and_leaves_the_walk(shared_dir):
    """dance-short holds a pose for 3 s (frames 100-200) on its flat left foot and its right toe tip (the G1's centre
    of mass 55 mm beside the flat foot); with `config.balance.hold_seconds` its upper body moves over the flat foot, and the walk
    solved beside it stays as it was (up to the conjugate gradients' sums over the batch)."""
    folder = shared_dir / "motions" / "bandai_namco"
    clips = [load_motion(folder / f"dataset-1_{name}_normal_001.bvh") for name in ("dance-short", "walk")]
    corners = optimize.tracked_points().corners
    results = {}
    for hold in (0.0, 0.2):
        config = configs.retarget.get_config()
        config.balance.hold_seconds = hold
        retargeter = pipeline.Retargeter(config)
        prepared = [retargeter.prepare(clip) for clip in clips]
        solved = retargeter.solve(prepared, optimize.bucket_length(sum(p.num_frames for p in prepared), 64))
        dance = solved.slices[0]
        beside_left_foot = retarget_balance.com_outside_support(solved.com[dance],
                                                                solved.points[dance][:, corners][:, :1])
        reports = [r.report for r in retargeter.finish(prepared, solved)]
        results[hold] = np.median(beside_left_foot[100:200]), reports[1]
        # The dance's leg lifts and lunges ask the floor to push outside the feet for ~1 s, the walk's steps for at
        # most 0.13 s.
        assert reports[0]["dynamic_balance"]["longest_off_balance_s"] > 0.5
        assert reports[1]["dynamic_balance"]["longest_off_balance_s"] < 0.2
    assert results[0.0][0] > 0.04 and results[0.2][0] < 0.005
    plain, balanced = results[0.0][1], results[0.2][1]
    for key in ("pelvis", "feet", "hands", "upper"):
        assert balanced["group_error_mm"][key] == pytest.approx(plain["group_error_mm"][key], abs=0.5)
    assert balanced["balance"] == pytest.approx(plain["balance"], rel=0.01)


def test_zmp_shift_moves_the_centre_of_mass_so_the_cart_table_point_stays_over_the_foot():
    """A lean out of the foot for 0.5 s: the centre of mass moves by d with d - (h / g) d'' the point's wanted move
    (so the moved point is over the foot), smoothly, earlier and later than the excursion, capped at max_step; the
    feet stay, and a point over the foot or without support moves nothing."""
    fps, height = 30.0, 0.7
    foot = np.array([[-0.1, -0.1, 0.0], [0.1, -0.1, 0.0], [-0.1, 0.1, 0.0], [0.1, 0.1, 0.0]])
    corners = np.stack([np.stack([foot, foot + [0.0, 0.0, 0.2]])] * 90)  # on the left foot, the right one lifted
    com = np.tile([0.0, 0.0, height], (90, 1))
    zmp = np.zeros((90, 3))
    zmp[30:45, 0] = 0.2  # 0.1 m beyond the front edge for 0.5 s
    index = constants.KEYPOINT_INDEX
    shifts = retarget_balance.zmp_shift(com, zmp, corners, fps, margin=0.02, max_step=1.0, gain=1.25)
    move = shifts[:, index["pelvis"], :2] / 1.25
    second = np.diff(move, 2, axis=0) * fps**2
    moved = zmp[1:-1, :2] + move[1:-1] - height / retarget_balance.GRAVITY * second
    wanted = np.where(zmp[1:-1, :1] > 0.1, 0.1 - 0.02, zmp[1:-1, :1])  # the excursion to 2 cm inside the edge
    np.testing.assert_allclose(moved[:, 0], wanted[:, 0], atol=1e-5)  # float32 shifts
    np.testing.assert_allclose(move[:, 1], 0.0, atol=1e-9)
    back = -move[:, 0]  # the point moves back 0.12 m: the centre of mass moves back less, centred on the excursion
    assert 0.05 < back.max() < 0.12 and back[37] == back.max()
    assert back[25] > 0.01 and back[50] > 0.01 and back[0] < 5e-3  # before and after, fading
    np.testing.assert_allclose(shifts[:, index["left_knee"]], shifts[:, index["pelvis"]] / 2, atol=1e-7)
    assert not shifts[:, [index["left_ankle"], index["right_toe"]]].any() and not shifts[..., 2].any()
    capped = retarget_balance.zmp_shift(com, zmp, corners, fps, margin=0.02, max_step=0.03, gain=1.25)
    assert np.linalg.norm(capped[:, index["pelvis"], :2], axis=-1).max() == pytest.approx(0.03 * 1.25, rel=1e-5)
    assert not retarget_balance.zmp_shift(com, np.zeros((90, 3)), corners, fps, 0.02, 1.0, 1.25).any()
    airborne = corners + [0.0, 0.0, 0.1]
    assert not retarget_balance.zmp_shift(com, zmp, airborne, fps, 0.02, 1.0, 1.25).any()


def test_dynamic_balance_brings_the_shared_kick_over_its_feet(shared_dir):
    """The shared kick's three high kicks ask the floor to push up to ~0.9 m outside the stance foot for ~0.8 s each;
    `config.dynamic_balance` moves its upper body until almost all of it can be followed."""
    clip = load_motion(shared_dir / "motions" / "bandai_namco" / "dataset-1_kick_normal_001.bvh")
    reports = {}
    for iterations in (0, 4):
        config = configs.retarget.get_config()
        config.dynamic_balance.iterations = iterations
        retargeted = pipeline.Retargeter(config)([clip])[0]
        reports[iterations] = retargeted.report
        # The same figures from the trajectory alone (as the evaluation shows them for its references).
        again = retarget_report.trajectory_balance(retargeted.motion.qpos, retargeted.motion.fps)
        for key in ("balance", "dynamic_balance"):
            assert again[key] == pytest.approx(retargeted.report[key], abs=1e-3)
    plain, balanced = reports[0]["dynamic_balance"], reports[4]["dynamic_balance"]
    assert plain["longest_off_balance_s"] > 0.6 and plain["off_balance_fraction"] > 0.15
    assert balanced["longest_off_balance_s"] < 0.2 and balanced["off_balance_fraction"] < 0.06
    assert balanced["max_zmp_outside_mm"] < 0.3 * plain["max_zmp_outside_mm"]
    assert reports[4]["group_error_mm"]["feet"] < reports[0]["group_error_mm"]["feet"] + 5.0
    assert reports[4]["foot_penetration_mm"] < reports[0]["foot_penetration_mm"] + 2.0


def test_swing_floor_raises_each_foot_only_between_two_plants():
    planted = np.ones((12, 2, 2), bool)
    planted[3:8, 0] = False  # a left swing of 5 frames
    planted[9:, 1, 0] = False  # the right heel lifts, its toe stays planted
    planted[:2, 1] = False  # the right foot in the air from the start: no plant before it
    floor = contact.swing_floor(planted, 0.04)
    np.testing.assert_allclose(floor[3:8, 0], 0.04 * np.sin(np.pi * np.arange(1, 6) / 6), rtol=1e-6)
    assert floor[:3, 0].max() == 0 and floor[8:, 0].max() == 0 and floor[:, 1].max() == 0
    assert contact.swing_floor(planted, 0.0).max() == 0


def skimming_foot(num_frames: int = 45, knee: float = 0.0) -> np.ndarray:
    """qpos [T, 36]: standing, the right foot swept 0.14 m out and back in 0.5 s (at most 2 cm off the floor), its knee
    bent `knee` rad further at the sweep's apex."""
    qpos = standing_qpos(num_frames)
    t = np.arange(num_frames) / FPS
    sweep = np.where((t > 0.4) & (t < 0.9), np.sin(np.pi * (t - 0.4) / 0.5), 0.0)
    qpos[:, 7 + constants.JOINT_INDEX["right_hip_roll_joint"]] -= 0.25 * sweep
    qpos[:, 7 + constants.JOINT_INDEX["right_knee_joint"]] += knee * sweep
    return qpos.astype(np.float32)


def retarget_corners(config, human: HumanMotion) -> tuple[dict, np.ndarray]:
    """The quality report of `human` retargeted with `config`, and its foot corners' heights [T, 2, 4] (m)."""
    result = pipeline.Retargeter(config)([human])[0]
    points = np.asarray(optimize.bodies_of_trajectory(result.motion.qpos)[0])
    return result.report, points[:, optimize.tracked_points().corners, 2]


def test_swing_clearance_lifts_a_skimming_foot_into_a_step():
    human = human_from_robot(skimming_foot())
    swing = ~contact.detect_planted(human)[:, 1].any(-1)
    assert 10 <= swing.sum() <= 20
    apex = np.flatnonzero(swing)[swing.sum() // 2]
    lowest = {}
    for clearance in (0.0, 0.04):
        config = small_config()
        config.swing_clearance = clearance
        report, corners = retarget_corners(config, human)
        lowest[clearance] = corners.min(-1)  # [T, 2]
        assert report["group_error_mm"]["pelvis"] < 5.0
        assert report["foot_skating_cm_s"] < 0.5
    assert lowest[0.0][apex, 1] < 0.02
    assert lowest[0.04][apex, 1] > 0.035
    assert np.all(lowest[0.04][swing, 1] > lowest[0.0][swing, 1])
    np.testing.assert_allclose(lowest[0.04][~swing], lowest[0.0][~swing], atol=2e-3)  # planted frames stay


def test_swing_level_keeps_a_swing_foot_level_where_its_floor_is_raised():
    human = human_from_robot(skimming_foot(knee=0.8))  # the bent knee tips the swinging foot toe-down
    swing = ~contact.detect_planted(human)[:, 1].any(-1)
    apex = np.flatnonzero(swing)[swing.sum() // 2]
    corners = {}
    for level in (0.0, 3.0):
        config = small_config()
        config.swing_clearance, config.weights.swing_level = 0.04, level
        corners[level] = retarget_corners(config, human)[1][:, 1]  # the right foot [T, 4]
    tilt = {level: np.ptp(c, axis=-1) for level, c in corners.items()}
    assert tilt[0.0][apex] > 0.05
    assert tilt[3.0][swing].max() < 0.3 * tilt[0.0][apex]
    assert corners[3.0][swing].min() > -1e-3 and corners[3.0][apex].min() > 0.035
    np.testing.assert_allclose(corners[3.0][~swing], corners[0.0][~swing], atol=2e-3)  # planted frames stay


def test_joint_limits_are_hard(retargeter, robot_as_human):
    """Elbows asked to bend backwards and knees to hyperextend stay inside their ranges."""
    _, human = robot_as_human
    positions = human.positions.copy()
    for side in ("left", "right"):
        elbow, wrist = JOINT_INDEX[f"{side}_elbow"], JOINT_INDEX[f"{side}_wrist"]
        shoulder = JOINT_INDEX[f"{side}_shoulder"]
        positions[:, wrist] = positions[:, elbow] + (positions[:, elbow] - positions[:, shoulder])
        positions[:, JOINT_INDEX[f"{side}_hand"]] = positions[:, wrist] + 0.1 * (
            positions[:, elbow] - positions[:, shoulder])
    bent = HumanMotion(positions=positions, fps=FPS, source="bent")
    qpos = retargeter([bent])[0].motion.qpos
    lo, hi = constants.JOINT_LIMITS[:, 0], constants.JOINT_LIMITS[:, 1]
    assert np.all(qpos[:, 7:] >= lo) and np.all(qpos[:, 7:] <= hi)


def deep_squat(num_frames: int, ankle_pitch: float, knee: float = 2.0) -> np.ndarray:
    """qpos [T, 36] of the G1 squatting with flat feet on the floor, its ankles bent `ankle_pitch` (may be beyond
    the limit, as a human's can)."""
    qpos = standing_qpos(num_frames)
    for side in ("left", "right"):
        qpos[:, 7 + constants.JOINT_INDEX[f"{side}_knee_joint"]] = knee
        qpos[:, 7 + constants.JOINT_INDEX[f"{side}_ankle_pitch_joint"]] = ankle_pitch
        qpos[:, 7 + constants.JOINT_INDEX[f"{side}_hip_pitch_joint"]] = -(knee + ankle_pitch)
    tree = kinematics.g1_tree()
    soles = np.asarray(kinematics.sites(tree, body_frames(tree, qpos), tree.site_index(constants.FOOT_SITES)))
    qpos[:, 2] -= soles[..., 2].min(-1)
    return qpos.astype(np.float32)


def test_ankles_at_their_limit_keep_planted_feet_out_of_the_floor(retargeter):
    """A squat deeper than the G1's ankles allow: the ankles stop at their limit and the other joints take over
    (projected Gauss-Newton), instead of the step being clipped at the limit and the toes left in the floor (7 mm
    when the step was only clipped)."""
    ankle_lower_limit = constants.JOINT_LIMITS[constants.JOINT_INDEX["left_ankle_pitch_joint"], 0]
    human = human_from_robot(deep_squat(30, ankle_pitch=ankle_lower_limit - 0.43))
    result = retargeter([human])[0]
    ankles = result.motion.qpos[:, [7 + constants.JOINT_INDEX[f"{s}_ankle_pitch_joint"] for s in ("left", "right")]]
    np.testing.assert_allclose(ankles, ankle_lower_limit, atol=1e-3)
    assert result.report["foot_penetration_mm"] < 1.0
    assert result.report["flat_planted_sole_height_mm"]["max_abs"] < 1.0


def test_line_search_keeps_a_squat_beyond_reach_out_of_the_floor(shared_dir):
    """The shared dance-short clip's single-leg squat (pelvis 0.27 m above the floor, the other leg kicked up), beyond
    the G1's ankle range: plain Gauss-Newton steps overshoot where the floor and contact terms switch on and leave a
    foot 58 mm below the floor in this window; the per-frame line search keeps it within 10 mm."""
    human = load_motion(shared_dir / "motions" / "bandai_namco" / "dataset-1_dance-short_normal_001.bvh")
    window = trim(human, 1180, 1300)
    config = configs.retarget.get_config()
    config.line_search, config.contact_iterations = True, 6
    report = pipeline.Retargeter(config)([window])[0].report
    assert report["foot_penetration_mm"] < 10.0 and report["flat_planted_sole_height_mm"]["max_abs"] < 10.0


def test_heading_term_jacobian():
    """The heading term's Jacobian matches finite differences of its residual, also for a pelvis pitched far over."""
    rng = np.random.default_rng(0)
    rotvecs = rng.normal(size=(8, 3))
    rotvecs[0] = [0.3, 1.4, 0.5]  # pitched 80 degrees
    rotations = np.asarray(kinematics.rotvec_to_matrix(jnp.asarray(rotvecs, jnp.float32)))
    human = np.asarray(kinematics.rotvec_to_matrix(jnp.asarray(rng.normal(size=(8, 3)), jnp.float32)))
    problem = optimize.Problem(targets=None, target_valid=None, pelvis_rotation=jnp.asarray(human), planted=None,
                               sole_floor=None, link=None, valid=jnp.ones(8), fps=None)
    weights = pipeline.weights_from_config(configs.retarget.get_config())._replace(heading=np.float32(2.0))

    def residual(rot):
        solution = optimize.Solution(jnp.zeros((8, 3)), jnp.asarray(rot, jnp.float32), jnp.zeros((8, 29)))
        return optimize._heading_term(solution, problem, weights)

    value, jacobian = residual(rotations)
    step = 1e-3 * rng.normal(size=(8, 3))
    moved, _ = residual(rotations @ np.asarray(kinematics.rotvec_to_matrix(jnp.asarray(step, jnp.float32))))
    np.testing.assert_allclose(moved - value, np.sum(np.asarray(jacobian) * step, -1), atol=2e-5)


def test_pelvis_heading_follows_the_hip_line(retargeter):
    """A walker turning: the robot pelvis faces where the human's hip line does. The G1's hip keypoints swing with the
    hip pitch (the human's hips do not), which yaws the pelvis by degrees without the heading term."""
    qpos = robot_trajectory()
    t = np.arange(len(qpos)) / FPS
    yaw = 0.5 * t
    qpos[:, 3], qpos[:, 6] = np.cos(yaw / 2), np.sin(yaw / 2)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        qpos[:, 7 + constants.JOINT_INDEX[f"{side}_hip_pitch_joint"]] += sign * 0.5 * np.sin(2 * np.pi * t)
    human = human_from_robot(qpos)
    still = qpos.copy()
    still[:, [7 + constants.JOINT_INDEX[f"{s}_hip_pitch_joint"] for s in ("left", "right")]] = 0.0
    positions = human.positions.copy()
    for side in ("left", "right"):  # the human's hip joints, rigid in its pelvis
        positions[:, JOINT_INDEX[f"{side}_hip"]] = robot_keypoints(still)[:, constants.KEYPOINT_INDEX[f"{side}_hip"]]
        positions[:, JOINT_INDEX[f"{side}_hip"]] *= HUMAN_SCALE
    human = HumanMotion(positions=positions, fps=FPS, source="walker")
    rot = np.asarray(kinematics.quat_to_matrix(jnp.asarray(retargeter([human])[0].motion.qpos[:, 3:7])))
    across = positions[:, JOINT_INDEX["left_hip"]] - positions[:, JOINT_INDEX["right_hip"]]
    error = np.arctan2(rot[:, 1, 1], rot[:, 0, 1]) - np.arctan2(across[:, 1], across[:, 0])
    assert np.degrees(np.abs(np.angle(np.exp(1j * error)))).mean() < 0.5


def test_packed_clips_share_a_compiled_bucket(retargeter, robot_as_human):
    qpos, human = robot_as_human
    assert [optimize.bucket_length(n) for n in (1, 64, 65, 81, 97, 113, 129, 3498)] == [64, 64, 80, 96, 112, 128, 160,
                                                                                       3584]
    short = HumanMotion(positions=human.positions[:20], fps=FPS, source="short")
    longer = HumanMotion(positions=human.positions[:41], fps=FPS, source="longer")
    dataset.CompileCounter.start()
    retargeter([short])
    compiled = dataset.CompileCounter.totals()[0]
    results = retargeter([longer])  # another length in the same bucket
    results += retargeter([short, longer])  # two clips packed into one bucket
    assert dataset.CompileCounter.totals()[0] == compiled
    assert [r.motion.num_frames for r in results] == [41, 20, 41]
    assert results[2].report["group_error_mm"]["pelvis"] < 20.0


def test_robot_motion_io(tmp_path, retargeter, robot_as_human):
    _, human = robot_as_human
    result = retargeter([human])[0]
    path = tmp_path / "clip.npz"
    io.save_robot_motion(result.motion, path, result.report)
    loaded = io.load_robot_motion(path)
    np.testing.assert_array_equal(loaded.qpos, result.motion.qpos)
    np.testing.assert_array_equal(loaded.keypoints, result.motion.keypoints)
    assert loaded.keypoint_names == constants.KEYPOINT_NAMES and loaded.fps == FPS
    assert io.load_report(path)["joint_limit_violations"] == 0

    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[:300])
    with pytest.raises(io.RobotMotionError, match="truncated.npz: cannot read"):
        io.load_robot_motion(truncated)
    bad = dict(qpos=result.motion.qpos.copy(), fps=30.0, keypoints=result.motion.keypoints,
               keypoint_names=np.array(constants.KEYPOINT_NAMES))
    bad["qpos"][3, 9] = np.nan
    np.savez(tmp_path / "nan.npz", **bad)
    with pytest.raises(io.RobotMotionError, match="nan.npz: qpos or keypoints contain non-finite"):
        io.load_robot_motion(tmp_path / "nan.npz")
    np.savez(tmp_path / "keys.npz", qpos=result.motion.qpos)
    with pytest.raises(io.RobotMotionError, match="missing keys fps, keypoints, keypoint_names"):
        io.load_robot_motion(tmp_path / "keys.npz")


def test_retarget_rejects_bad_motion(retargeter, robot_as_human):
    _, human = robot_as_human
    positions = human.positions.copy()
    positions[5, 3] = np.nan
    with pytest.raises(MotionFormatError, match="nan_clip: non-finite position at frame 5"):
        retargeter([HumanMotion(positions=positions, fps=FPS, source="nan_clip")])


def test_retarget_refuses_bad_weights_and_diverged_solves(robot_as_human):
    _, human = robot_as_human
    config = small_config()
    config.weights.ground = float("nan")
    with pytest.raises(InputError, match=r"config.weights.ground: weight nan is outside \[0, inf\]"):
        pipeline.Retargeter(config)
    config.weights.ground = 1.0
    config.balance.gain = -1.0
    with pytest.raises(InputError, match=r"config.balance.gain: value -1 is outside \[0, 1000\]"):
        pipeline.Retargeter(config)
    config.balance.gain = 1.25
    config.swing_clearance = -0.02
    with pytest.raises(InputError, match=r"config.swing_clearance: value -0.02 is outside \[0, 0.5\]"):
        pipeline.Retargeter(config)
    config.swing_clearance = 0.0
    config.weights.ground = 1e30  # overflows float32: the solve cannot stay finite
    with pytest.raises(InputError, match="robot_as_human: the retargeting solve diverged"):
        pipeline.Retargeter(config)([human])


def test_smpl_parameter_motion(tmp_path, retargeter):
    """An AMASS-style SMPL+H parameter file goes through the JAX body model and retargets end to end."""
    model_dir = tmp_path / "models"
    synthetic_body_model.write_model_npz(model_dir / "smplh" / "male" / "model.npz", model_type="smplh",
                                         num_shape=16, seed=2)
    num_frames = 40
    t = np.arange(num_frames) / FPS
    poses = np.zeros((num_frames, 156))
    poses[:, 0] = np.pi / 2  # stand the y-up body model up in AMASS's z-up world
    poses[:, 3 * JOINT_INDEX["left_shoulder"] + 2] = -1.0 + 0.4 * np.sin(2 * np.pi * t)  # arms down, waving
    poses[:, 3 * JOINT_INDEX["right_shoulder"] + 2] = 1.0
    poses[:, 3 * JOINT_INDEX["left_elbow"] + 1] = -0.8 * np.sin(np.pi * t) ** 2
    trans = np.zeros((num_frames, 3))
    trans[:, 0] = 0.3 * t
    path = tmp_path / "wave_poses.npz"
    np.savez(path, poses=poses, trans=trans, betas=np.zeros(16), gender=np.array("male"),
             mocap_framerate=np.array(FPS))
    human = load_motion(path, model_dir=model_dir)
    assert human.smpl_params is not None
    result = retargeter([human])[0]
    report = result.report
    assert report["joint_limit_violations"] == 0
    assert np.all(np.isfinite(result.motion.qpos))
    assert report["group_error_mm"]["pelvis"] < 30.0 and report["group_error_mm"]["hands"] < 60.0
    assert report["limb_direction_deg"]["mean"] < 8.0
    assert report["heading_error_deg"] < 5.0


def test_cli(tmp_path, robot_as_human, capsys):
    from experiments import retarget as cli

    _, human = robot_as_human
    folder = tmp_path / "in"
    folder.mkdir()
    save_npz(human, folder / "good.npz")
    (folder / "broken.bvh").write_text("HIERARCHY\nROOT Hips\n{\n")
    out = tmp_path / "out"
    assert cli.run(str(folder), str(out), small_config()) == 1  # one input failed
    captured = capsys.readouterr()
    error_lines = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "broken.bvh" in error_lines[0]
    assert "Traceback" not in captured.err
    assert (out / "good.npz").is_file() and not (out / "broken.npz").exists()
    reports = json.loads((out / "report.json").read_text())
    assert list(reports["clips"]) == ["good.npz"] and reports["summary"]["clips"] == 1
    assert "good.npz" in captured.out and "pelvis mm" in captured.out
    assert io.load_robot_motion(out / "good.npz").num_frames == human.num_frames

    assert cli.run(str(folder / "broken.bvh"), str(tmp_path / "one.npz"), small_config()) == 1
    assert not (tmp_path / "one.npz").exists() and not (tmp_path / "one.report.json").exists()
    assert cli.run(str(folder / "good.npz"), str(tmp_path / "one.npz"), small_config()) == 0
    assert json.loads((tmp_path / "one.report.json").read_text())["joint_limit_violations"] == 0


def test_dataset_run_compiles_once_streams_and_resumes(tmp_path, robot_as_human, capsys):
    """Nested folders keep their layout; many clips of many lengths in fixed-length batches compile the solver once
    (and a second set of other lengths not at all); a re-run skips finished clips; a list file works the same."""
    from experiments import retarget as cli

    _, human = robot_as_human
    source = tmp_path / "in"
    for index, length in enumerate((60, 23, 47, 31, 58, 12, 40)):
        clip = HumanMotion(positions=human.positions[:length], fps=FPS, source=f"clip{index}")
        save_npz(clip, source / f"subject{index % 3}" / f"clip{index}.npz")
    np.savez(source / "subject0" / "shape.npz", betas=np.zeros(16))  # AMASS's per-subject shape: not a motion
    assert len(dataset.list_jobs(source, tmp_path / "out", (".npz",))) == 7
    config = small_config()
    config.batch_frames = 128
    out = tmp_path / "out"
    dataset.CompileCounter.start()
    before = dataset.CompileCounter.totals()[0]
    assert cli.run(str(source), str(out), config) == 0
    assert dataset.CompileCounter.totals()[0] - before <= 1  # this batch length, unless an earlier test compiled it
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.npz"))
    assert names == [f"subject{i % 3}/clip{i}.npz" for i in sorted(range(7), key=lambda i: (i % 3, i))]
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["clips"] == 7 and report["summary"]["frames"] == 271
    assert set(report["summary"]["columns"]["group_error_mm.pelvis"]) == {"label", "mean", "max", "worst"}
    assert "frame-weighted mean" in (out / "report.txt").read_text()
    assert "7/7 clips" in capsys.readouterr().err
    # Training and evaluation read the nested output as it is, named by relative path.
    motions, clip_names = io.load_robot_motions(out)
    assert clip_names == [name.removesuffix(".npz") for name in names]
    assert [m.num_frames for m in motions] == [60, 31, 40, 23, 58, 47, 12]
    assert io.load_robot_motions(out, max_clips=2)[1] == ["subject0/clip0", "subject0/clip3"]

    compiled = dataset.CompileCounter.totals()[0]
    (out / "subject1" / "clip1.npz").unlink()
    kept = (out / "subject0" / "clip0.npz").stat().st_mtime_ns
    assert cli.run(str(source), str(out), config) == 0
    assert "7/7 clips (0 failed, 6 already done), 23 frames" in capsys.readouterr().err
    assert (out / "subject1" / "clip1.npz").is_file() and (out / "subject0" / "clip0.npz").stat().st_mtime_ns == kept
    assert cli.run(str(source), str(out), config, overwrite=True) == 0
    assert "7/7 clips (0 failed, 0 already done), 271 frames" in capsys.readouterr().err
    assert dataset.CompileCounter.totals()[0] == compiled

    listing = tmp_path / "clips.txt"
    listing.write_text("# two clips\nin/subject0/clip0.npz\n\nin/subject1/clip4.npz\n")
    assert cli.run(str(listing), str(tmp_path / "listed"), config) == 0
    assert sorted(p.name for p in (tmp_path / "listed").rglob("*.npz")) == ["clip0.npz", "clip4.npz"]
    assert dataset.CompileCounter.totals()[0] == compiled


def test_dataset_benchmark_cuts_windows(tmp_path, shared_dir):
    from benchmarks import retarget_dataset

    frames = retarget_dataset.cut_windows(shared_dir, tmp_path / "clips", 4, 2.0, 8.0, seed=0, nested=True)
    files = sorted((tmp_path / "clips").rglob("*.bvh"))
    assert len(files) == 4 and all(f.parent.parent == tmp_path / "clips" for f in files)
    lengths = [load_motion(f).num_frames for f in files]
    assert sum(lengths) == frames and all(60 <= n <= 240 for n in lengths)
