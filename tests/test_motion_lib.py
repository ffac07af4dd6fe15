"""Tests of the on-device reference motion library and the built-in synthetic motion."""


import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from scipy.spatial import transform

from genmimic_jax.envs import motion_lib, synthetic_motion, tracking
from genmimic_jax.envs.motion_lib import MotionLib, MotionLibError, ReferenceClip
from genmimic_jax.retarget.io import RobotMotion, save_robot_motion
from genmimic_jax.robot.g1 import constants
from genmimic_jax.robot.g1 import model as g1_model
from genmimic_jax.rl import env_factory


def _clip(qpos: np.ndarray, fps: float, source: str = "test") -> ReferenceClip:
    return ReferenceClip(qpos=qpos, fps=fps, keypoints=np.zeros((qpos.shape[0], len(constants.KEYPOINT_NAMES), 3)),
                         source=source)


def _spinning_clip(fps: float, seconds: float) -> tuple[ReferenceClip, np.ndarray, np.ndarray]:
    """A root moving at constant world velocity and turning at a constant body-frame rate about a tilted axis."""
    t = np.arange(int(seconds * fps) + 1) / fps
    omega_body = np.array([0.4, -0.3, 1.1])
    velocity = np.array([0.5, -0.2, 0.1])
    start = transform.Rotation.from_euler("xyz", [0.3, -0.2, 0.7])
    rotations = start * transform.Rotation.from_rotvec(t[:, None] * omega_body)  # body-frame rate: right product
    qpos = np.tile(g1_model.default_qpos(), (t.size, 1))
    qpos[:, :3] = np.array([0.0, 0.0, 0.8]) + t[:, None] * velocity
    qpos[:, 3:7] = rotations.as_quat(scalar_first=True)
    qpos[:, 7 + constants.JOINT_INDEX["left_elbow_joint"]] = 0.2 + 0.7 * t
    return _clip(qpos, fps), omega_body, velocity


def test_resampling_to_control_rate_keeps_linear_joint_motion():
    clip, _, _ = _spinning_clip(fps=30.0, seconds=2.0)
    lib = MotionLib.from_clips([clip], fps=50.0)
    assert int(lib.lengths[0]) == 101  # 2 s at 50 Hz, both ends included
    t = np.arange(101) / 50.0
    elbow = np.asarray(lib.frames.qpos[:, 7 + constants.JOINT_INDEX["left_elbow_joint"]])
    np.testing.assert_allclose(elbow, 0.2 + 0.7 * t, atol=1e-5)
    np.testing.assert_allclose(np.asarray(lib.frames.qvel[:, 6 + constants.JOINT_INDEX["left_elbow_joint"]]),
                               0.7, atol=1e-4)


def test_root_velocity_follows_mujoco_free_joint_convention():
    clip, omega_body, velocity = _spinning_clip(fps=50.0, seconds=1.0)
    lib = MotionLib.from_clips([clip], fps=50.0)
    qvel = np.asarray(lib.frames.qvel, dtype=np.float64)
    np.testing.assert_allclose(qvel[1:-1, 3:6], np.tile(omega_body, (qvel.shape[0] - 2, 1)), atol=1e-4)
    np.testing.assert_allclose(qvel[:, :3], np.tile(velocity, (qvel.shape[0], 1)), atol=1e-4)
    # Integrating qvel with MuJoCo's own free-joint integration lands on the next frame.
    model = g1_model.load_model()
    qpos = np.asarray(lib.frames.qpos, dtype=np.float64)
    for i in (5, 20, 40):
        q = qpos[i].copy()
        mujoco.mj_integratePos(model, q, qvel[i], 1.0 / 50.0)
        np.testing.assert_allclose(q[3:7] * np.sign(q[3] * qpos[i + 1, 3]), qpos[i + 1, 3:7], atol=2e-4)


def test_keypoints_come_from_forward_kinematics():
    clip = synthetic_motion.synthetic_motion(duration=1.0)
    lib = MotionLib.from_clips([clip])
    model = g1_model.load_model()
    data = mujoco.MjData(model)
    data.qpos[:] = np.asarray(lib.frames.qpos[17])
    mujoco.mj_kinematics(model, data)
    np.testing.assert_allclose(np.asarray(lib.frames.keypoints[17]), g1_model.keypoint_positions(model, data),
                               atol=1e-5)
    np.testing.assert_allclose(np.asarray(lib.frames.keypoints), clip.keypoints, atol=1e-4)


def test_synthetic_motion_keeps_the_soles_on_the_floor():
    clip = synthetic_motion.synthetic_motion(duration=4.0, yaw=0.7, position=(1.0, -2.0))
    model = g1_model.load_model()
    soles = motion_lib.forward_kinematics(model, clip.qpos.astype(np.float64), constants.FOOT_SITES)[0]
    rest = motion_lib.forward_kinematics(model, g1_model.default_qpos()[None], constants.FOOT_SITES)[0][0, :, 2]
    assert np.ptp(soles[..., 2]) < 0.01
    assert np.abs(soles[..., 2] - rest.mean()).max() < 0.01
    assert np.ptp(clip.qpos[:, 7:], axis=0).max() > 0.5  # it does move


@pytest.mark.parametrize("mutate, message", [
    (lambda q: q[:, :30], "qpos must be"),
    (lambda q: np.where(np.arange(36) == 9, np.nan, q), "NaN"),
    (lambda q: q[:1], "shorter than"),
    (lambda q: q * np.where(np.arange(36) == 3, 2.0, 1.0), "not unit"),
])
def test_bad_clips_raise_a_clear_error(mutate, message):
    clip = synthetic_motion.synthetic_motion(duration=0.5)
    bad = _clip(mutate(clip.qpos.copy()), clip.fps, source="walk_07.npz")
    with pytest.raises(MotionLibError, match=f"walk_07.npz.*{message}"):
        MotionLib.from_clips([bad])


def test_bad_fps_and_weights_raise():
    clip = synthetic_motion.synthetic_motion(duration=0.5)
    with pytest.raises(MotionLibError, match="frame rate"):
        MotionLib.from_clips([_clip(clip.qpos, 0.0, source="x.npz")])
    with pytest.raises(MotionLibError, match="weights"):
        MotionLib.from_clips([clip], weights=[-1.0])


@pytest.fixture(scope="module")
def two_clip_lib() -> MotionLib:
    clips = [synthetic_motion.synthetic_motion(duration=3.0), synthetic_motion.synthetic_motion(duration=1.0)]
    return MotionLib.from_clips(clips, fps=50.0, bin_seconds=0.5, weights=[0.25, 0.75])


def test_clips_are_packed_one_after_another(two_clip_lib):
    lib = two_clip_lib
    assert lib.frames.qpos.shape == (151 + 51, 36) and lib.max_length == 151  # no padding to the longest clip
    np.testing.assert_array_equal(np.asarray(lib.lengths), [151, 51])
    np.testing.assert_array_equal(np.asarray(lib.starts), [0, 151])
    second = synthetic_motion.synthetic_motion(duration=1.0)
    alone = MotionLib.from_clips([second], fps=50.0)
    np.testing.assert_allclose(lib.clip_frames(1).qpos, np.asarray(alone.frames.qpos))
    np.testing.assert_allclose(lib.clip_goals(1), np.asarray(alone.goal_keypoints))
    np.testing.assert_allclose(np.asarray(lib.frame(jnp.array(1), jnp.array(7)).qpos), lib.clip_frames(1).qpos[7])
    # Past the end (or before the start), a clip's own last (first) frame, never the next clip's.
    last = lib.frame(jnp.array(1), jnp.array(50))
    beyond = lib.frame(jnp.array(1), jnp.array(120))
    np.testing.assert_array_equal(np.asarray(last.qpos), np.asarray(beyond.qpos))
    np.testing.assert_array_equal(np.asarray(lib.frame(jnp.array(0), jnp.array(400)).qpos), lib.clip_frames(0).qpos[-1])
    np.testing.assert_array_equal(np.asarray(lib.goals(jnp.array(1), jnp.array(-3))), lib.clip_goals(1)[0])
    # Bins of 25 start frames: 150 starts in clip 0, 50 in clip 1; a failure on a clip's last frame is in its last bin.
    assert lib.num_bins == 6 + 2
    np.testing.assert_array_equal(np.asarray(lib.bin_clips), [0] * 6 + [1] * 2)
    assert int(lib.bin_index(0, 150)) == 5 and int(lib.bin_index(1, 0)) == 6 and int(lib.bin_index(1, 50)) == 7


def test_uniform_sampling_follows_weights_and_keeps_a_frame_to_step(two_clip_lib):
    lib = two_clip_lib
    clip, t = jax.jit(jax.vmap(lib.sample_uniform))(jax.random.split(jax.random.PRNGKey(0), 4000))
    clip, t = np.asarray(clip), np.asarray(t)
    assert abs(np.mean(clip == 1) - 0.75) < 0.03
    assert t.min() == 0 and np.all(t <= np.asarray(lib.lengths)[clip] - 2)
    assert t[clip == 0].max() > 140


def test_adaptive_sampling_prefers_failing_bins(two_clip_lib):
    lib = two_clip_lib
    def sample(keys, counts, uniform_ratio):
        distribution = lib.start_distribution(counts, uniform_ratio)
        return jax.jit(jax.vmap(lib.sample_start, in_axes=(0, None)))(keys, distribution)

    keys = jax.random.split(jax.random.PRNGKey(1), 4000)
    # Without failures the starts spread like the uniform sampler's.
    clip, t = (np.asarray(x) for x in sample(keys, jnp.zeros(lib.num_bins), 0.1))
    assert abs(np.mean(clip == 1) - 0.75) < 0.03
    assert np.all(t <= np.asarray(lib.lengths)[clip] - 2)
    # All failures in bin 3 of clip 0 (frames 75..99): 90% of starts there, the rest by weight.
    counts = jnp.zeros(lib.num_bins).at[lib.bin_index(0, 80)].set(7.0)
    clip, t = (np.asarray(x) for x in sample(keys, counts, 0.1))
    in_bin = (clip == 0) & (t >= 75) & (t < 100)
    assert abs(np.mean(in_bin) - (0.9 + 0.1 * 0.25 / 6)) < 0.03
    assert np.all(t <= np.asarray(lib.lengths)[clip] - 2)


def test_per_clip_adaptive_sampling_keeps_each_clip_its_share(two_clip_lib):
    lib = two_clip_lib
    def sample(keys, counts, uniform_ratio):
        distribution = lib.start_distribution(counts, uniform_ratio, failure_share=0.0)
        return jax.jit(jax.vmap(lib.sample_start, in_axes=(0, None)))(keys, distribution)

    keys = jax.random.split(jax.random.PRNGKey(2), 4000)
    # Failures in bin 3 of clip 0 (weight 0.25) and a third as many in bin 0 of clip 1 (weight 0.75): pooled, clip 0
    # would draw 0.1 * 0.25 + 0.9 * 0.75 = 70% of the starts; per clip each clip keeps its weight and its own failing
    # bin takes 90% of its starts.
    counts = jnp.zeros(lib.num_bins).at[lib.bin_index(0, 80)].set(3.0).at[lib.bin_index(1, 10)].set(1.0)
    clip, t = (np.asarray(x) for x in sample(keys, counts, 0.1))
    assert abs(np.mean(clip == 1) - 0.75) < 0.03
    in_bin = (clip == 0) & (t >= 75) & (t < 100)
    assert abs(np.mean(in_bin) - 0.25 * (0.9 + 0.1 / 6)) < 0.03
    # A clip without failures keeps its share, spread over its bins.
    counts = jnp.zeros(lib.num_bins).at[lib.bin_index(1, 10)].set(5.0)
    clip, t = (np.asarray(x) for x in sample(keys, counts, 0.1))
    assert abs(np.mean(clip == 0) - 0.25) < 0.03
    assert np.ptp(np.bincount(t[clip == 0] // 25, minlength=6)) < 0.4 * np.sum(clip == 0) / 6
    assert np.all(t <= np.asarray(lib.lengths)[clip] - 2)


def test_first_frame_share_moves_that_share_of_starts_to_their_clip_s_first_frame(two_clip_lib):
    lib = two_clip_lib
    keys = jax.random.split(jax.random.PRNGKey(3), 4000)
    counts = jnp.zeros(lib.num_bins).at[lib.bin_index(0, 80)].set(3.0)
    distribution = lib.start_distribution(counts, 0.1, failure_share=0.0)
    adaptive = lambda share: jax.jit(jax.vmap(lambda key: lib.sample_start(key, distribution, share)))(keys)
    uniform = lambda share: jax.jit(jax.vmap(lambda key: lib.sample_uniform(key, share)))(keys)
    for sample in (adaptive, uniform):
        (clip_off, t_off), (clip, t) = ((np.asarray(x) for x in sample(share)) for share in (0.0, 0.3))
        assert abs(np.mean(clip == 1) - 0.75) < 0.03  # the clips keep their shares
        assert np.mean(t_off == 0) < 0.03
        assert abs(np.mean(t == 0) - 0.3) < 0.03
        later = t > 0  # the other starts are drawn as without first-frame starts
        assert abs(np.mean(clip[later] == 1) - np.mean(clip_off == 1)) < 0.04
        assert abs(np.mean(t[later & (clip == 0)]) - np.mean(t_off[clip_off == 0])) < 8
    # Off, the starts are those of a sampler without the option.
    np.testing.assert_array_equal(np.asarray(adaptive(0.0)[1]),
                                  np.asarray(jax.vmap(lib.sample_start, in_axes=(0, None))(keys, distribution)[1]))


def test_failure_share_moves_starts_towards_the_clips_that_fail(two_clip_lib):
    lib = two_clip_lib
    def probabilities(counts, failure_share):
        return np.diff(np.asarray(lib.start_distribution(counts, 0.1, failure_share)), prepend=0.0)

    # Clip 0 (weight 0.25) fails in one bin, clip 1 (weight 0.75) never: pooled, every adaptive start goes to that
    # bin; per clip, clip 1 keeps its 75%; the mix is the average of the two.
    counts = jnp.zeros(lib.num_bins).at[lib.bin_index(0, 80)].set(2.0)
    pooled, per_clip, mixed = (probabilities(counts, share) for share in (1.0, 0.0, 0.5))
    failing = int(lib.bin_index(0, 80))
    assert pooled[failing] == pytest.approx(0.9 + 0.1 * 0.25 / 6, abs=1e-6)
    assert per_clip[failing] == pytest.approx(0.25 * (0.9 + 0.1 / 6), abs=1e-6)
    np.testing.assert_allclose(mixed, 0.5 * (pooled + per_clip), atol=1e-6)
    for p in (pooled, per_clip, mixed):
        assert p.sum() == pytest.approx(1.0, abs=1e-6)
    # Without failures every share gives the weights, spread evenly over each clip's bins.
    np.testing.assert_allclose(probabilities(jnp.zeros(lib.num_bins), 0.5), probabilities(jnp.zeros(lib.num_bins), 0.0),
                               atol=1e-7)


def test_goals_can_come_from_the_clip_keypoint_track():
    clip = synthetic_motion.synthetic_motion(duration=1.0, fps=30.0)
    shifted = ReferenceClip(qpos=clip.qpos, fps=clip.fps, keypoints=clip.keypoints + np.array([0.0, 0.1, 0.0]),
                            source="video.npz")
    own = MotionLib.from_clips([shifted], goal_from_clip_keypoints=True)
    kinematic = MotionLib.from_clips([shifted])
    np.testing.assert_allclose(np.asarray(kinematic.goal_keypoints), np.asarray(kinematic.frames.keypoints))
    np.testing.assert_allclose(np.asarray(own.frames.keypoints), np.asarray(kinematic.frames.keypoints))
    # Resampled 30 -> 50 fps: interpolation between FK keypoints is close to FK of interpolated poses.
    np.testing.assert_allclose(np.asarray(own.goals(0, jnp.arange(5)) - kinematic.goals(0, jnp.arange(5))),
                               np.broadcast_to([0.0, 0.1, 0.0], (5, len(constants.KEYPOINT_NAMES), 3)), atol=2e-3)
    bad = ReferenceClip(qpos=clip.qpos, fps=clip.fps, keypoints=clip.keypoints[:, :5], source="video.npz")
    with pytest.raises(MotionLibError, match="video.npz: keypoints must be"):
        MotionLib.from_clips([bad], goal_from_clip_keypoints=True)


@pytest.mark.parametrize("power, expected", [(0.0, [0.5, 0.5]), (1.0, [51 / 252, 201 / 252])])
def test_clip_duration_power_weights_the_folder_s_clips_by_their_frames(tmp_path, power, expected):
    for name, seconds in (("a_short", 1.0), ("b_long", 4.0)):  # 30 fps files, 50 Hz library: 51 and 201 frames
        frames = int(seconds * 30) + 1
        save_robot_motion(RobotMotion(np.tile(g1_model.default_qpos(), (frames, 1)), 30.0,
                                      np.zeros((frames, len(constants.KEYPOINT_NAMES), 3))), tmp_path / f"{name}.npz")
    env_config = tracking.default_config()
    env_config.motion.clip_duration_power = power
    lib = env_factory.load_motion_lib(str(tmp_path), env_config)
    np.testing.assert_array_equal(np.asarray(lib.lengths), [51, 201])
    np.testing.assert_allclose(np.asarray(lib.weights), expected, rtol=1e-6)
