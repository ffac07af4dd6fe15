"""The two evaluation back ends: C MuJoCo and MJX give the same rollout; evaluation scoring and the noise suite."""

import json

import jax
import numpy as np
import pytest

from genmimic_jax.envs import tracking as tracking_config
from genmimic_jax.envs import observations
from genmimic_jax.eval import evaluate, metrics
from genmimic_jax.errors import InputError
from genmimic_jax.eval.rollout import Evaluator
from genmimic_jax.rl.policy import PolicyLoadError
from genmimic_jax.robot.g1 import constants
from eval_helpers import random_policy, short_clips


@pytest.fixture(scope="module")
def setup():
    env_config = tracking_config.default_config()
    env = evaluate.make_env(env_config, short_clips())
    return env_config, env, random_policy(env_config, env.observation_size["actor"])


@pytest.fixture(scope="module")
def mujoco_evaluator(setup):
    _, env, policy = setup
    return Evaluator(env, policy.policy, "mujoco", threads=2)


def test_mujoco_backend_is_deterministic_and_thread_independent(setup, mujoco_evaluator):
    _, env, policy = setup
    first = mujoco_evaluator()
    single = Evaluator(env, policy.policy, "mujoco", threads=1)()
    np.testing.assert_array_equal(first.qpos, single.qpos)
    np.testing.assert_array_equal(first.obs, single.obs)
    lib = env.motion_lib
    assert first.qpos.shape == (2, lib.max_length, constants.QPOS_SIZE)
    # Frame 0 is the reference's first frame, and the first observation sees the robot standing on it.
    first_frames = np.stack([lib.clip_frames(n).qpos[0] for n in range(lib.num_clips)])
    np.testing.assert_allclose(first.qpos[:, 0], first_frames, atol=1e-6)
    proprio = observations.proprio_layout()
    joint_pos = first.obs[:, 0, proprio.slices["joint_pos"]]
    np.testing.assert_allclose(joint_pos, first_frames[:, 7:] - constants.DEFAULT_POSE, atol=1e-5)
    # The small random policy keeps the robots up over these short clips.
    np.testing.assert_array_equal(first.failed_at, [-1, -1])
    np.testing.assert_array_equal(first.last_frame(), np.asarray(lib.lengths) - 1)


def test_another_checkpoint_reuses_the_compiled_rollout(setup, mujoco_evaluator):
    env_config, env, policy = setup
    other = random_policy(env_config, env.observation_size["actor"], seed=3, action_gain=20.0)
    own = mujoco_evaluator()
    compiled = mujoco_evaluator._run._cache_size()
    swapped = mujoco_evaluator(policy=other.policy)
    assert mujoco_evaluator._run._cache_size() == compiled
    fresh = Evaluator(env, other.policy, "mujoco", threads=2)()
    np.testing.assert_array_equal(swapped.qpos, fresh.qpos)
    np.testing.assert_array_equal(swapped.actions, fresh.actions)
    assert np.abs(swapped.actions - own.actions).max() > 1e-3
    np.testing.assert_array_equal(mujoco_evaluator().actions, own.actions)


def test_a_wild_policy_fails_and_is_scored_as_failed(setup):
    env_config, env, _ = setup
    wild = random_policy(env_config, env.observation_size["actor"], obs_key="actor", seed=1, action_gain=3000.0)
    run = Evaluator(env, wild.policy, "mujoco")()
    assert np.all(run.failed_at > 0), run.failed_at
    assert all(kind for kind in run.failure_kinds())
    scored = evaluate.score(run, env.motion_lib, ["a", "b"], success_threshold=10.0)
    assert all(clip["failed"] == 1.0 and clip["success"] == 0.0 for clip in scored.values())
    np.testing.assert_array_equal([clip["frames"] for clip in scored.values()], run.failed_at)


def test_corrupted_goals_change_only_what_the_policy_sees(setup, mujoco_evaluator):
    _, env, _ = setup
    lib = env.motion_lib
    corrupted = evaluate.corrupt_goals(lib, "jitter", 0.05, seed=0)
    for clean, noisy in zip(jax.tree.leaves(lib.frames), jax.tree.leaves(corrupted.frames)):
        np.testing.assert_array_equal(np.asarray(noisy), np.asarray(clean))
    for clip in range(lib.num_clips):
        assert np.linalg.norm(corrupted.clip_goals(clip) - lib.clip_goals(clip), axis=-1).mean() > 0.03
    # The policy sees the corrupted goals; its proprioception starts the same.
    clean_run, noisy_run = mujoco_evaluator(), mujoco_evaluator(corrupted)
    slices = env.obs_layout["actor"].slices
    assert np.abs(noisy_run.obs[:, 0, slices["goal_keypoints"]] - clean_run.obs[:, 0, slices["goal_keypoints"]]).max() > 0.01
    np.testing.assert_array_equal(noisy_run.obs[:, 0, slices["joint_pos"]], clean_run.obs[:, 0, slices["joint_pos"]])


def test_a_policy_of_another_observation_layout_is_refused_in_one_line(setup):
    env_config, env, _ = setup
    old = random_policy(env_config, env.observation_size["privileged"] - 58, obs_key="privileged")
    with pytest.raises(PolicyLoadError, match=r"reads a \d+-number 'privileged' observation.*older observation layout"):
        evaluate.evaluate(old, short_clips(), ["still", "wave"])


def test_evaluate_writes_the_report(setup, mujoco_evaluator, tmp_path):
    _, env, policy = setup
    report = evaluate.evaluate(policy, short_clips(), ["still", "wave"], backend="mujoco", success_threshold=0.2,
                               noise_levels=[("jitter", 0.05), ("drift", 0.2)])
    assert set(report.per_clip) == {"still", "wave"}
    assert report.overall["clips"] == 2.0
    # The noise runs differ from the clean one and are scored against the clean reference.
    assert [entry["corruption"] for entry in report.noise] == ["jitter", "drift"]
    assert report.noise[0]["overall"]["mpjpe_mm"] != report.overall["mpjpe_mm"]
    paths = evaluate.write_report(report, tmp_path)
    text = paths["text"].read_text()
    assert "OVERALL" in text and "jitter" in text
    # The reference's own feasibility beside the policy's figures: standing and waving never push outside the feet
    # nor ask a motor for more than its limit.
    for key in ("reference_zmp_off_s", "reference_torque_over_s"):
        assert key in text.splitlines()[0]
        assert [report.per_clip[name][key] for name in ("still", "wave")] == [0.0, 0.0]
    saved = np.load(paths["rollout:wave"])
    assert saved["qpos"].shape == (int(env.motion_lib.lengths[1]), constants.QPOS_SIZE)
    assert paths["noise_plot"].stat().st_size > 0
    # Metrics from the saved trajectory reproduce the report.
    again = metrics.mpjpe_mm(saved["keypoints"][1:], saved["reference_keypoints"][1:])
    assert again == pytest.approx(report.per_clip["wave"]["mpjpe_mm"], rel=1e-5)


def test_the_noise_suite_runs_every_level_at_several_noise_seeds(setup, tmp_path):
    _, _, policy = setup
    levels = [("jitter", 0.05), ("drift", 0.2)]
    alone = evaluate.evaluate(policy, short_clips(), ["still", "wave"], noise_levels=levels, noise_seeds=(4,))
    report = evaluate.evaluate(policy, short_clips(), ["still", "wave"], noise_levels=levels, noise_seeds=(3, 4, 5))
    assert [(entry["corruption"], entry["seed"]) for entry in report.noise] == [
        ("jitter", 3), ("jitter", 4), ("jitter", 5), ("drift", 3), ("drift", 4), ("drift", 5)]
    # A seed's run is the one that seed gives alone; the other seeds corrupt the goals otherwise.
    assert report.noise[1]["overall"] == pytest.approx(alone.noise[0]["overall"], rel=1e-6)
    assert report.noise[4]["overall"] == pytest.approx(alone.noise[1]["overall"], rel=1e-6)
    errors = [entry["overall"]["mpjpe_mm"] for entry in report.noise[:3]]
    assert len(set(errors)) == 3
    jitter, drift = evaluate.noise_over_seeds(report.noise)
    assert (jitter["corruption"], jitter["severity"], jitter["seeds"]) == ("jitter", 0.05, [3, 4, 5])
    assert jitter["mpjpe_mm"] == pytest.approx({"mean": np.mean(errors), "std": np.std(errors), "min": min(errors),
                                                "max": max(errors)})
    assert drift["clips_followed"] == [sum(int(clip["success"]) for clip in entry["per_clip"].values())
                                       for entry in report.noise[3:]]
    paths = evaluate.write_report(report, tmp_path)
    text = paths["text"].read_text()
    assert "over noise seeds 3, 4, 5" in text
    assert "/".join(map(str, drift["clips_followed"])) in text
    saved = json.loads(paths["json"].read_text())
    assert saved["info"]["noise_seeds"] == [3, 4, 5] and len(saved["noise_suite"]) == 6
    assert saved["noise_suite_over_seeds"][1]["success_rate"] == pytest.approx(drift["success_rate"])
    assert paths["noise_plot"].stat().st_size > 0


def test_clip_groups_bound_robots_times_frames():
    groups = evaluate.clip_groups([100, 400, 90, 410, 1000, 95], max_robot_frames=900)
    assert groups == [[4], [3, 1], [0, 5, 2]]
    assert sorted(sum(groups, [])) == list(range(6))
    assert evaluate.clip_groups([5, 5], max_robot_frames=1) == [[0], [1]]


def test_evaluating_in_groups_changes_nothing_but_memory(setup, tmp_path):
    _, _, policy = setup
    levels = [("jitter", 0.05)]
    whole = evaluate.evaluate(policy, short_clips(), ["still", "wave"], noise_levels=levels)
    handed = []
    grouped = evaluate.evaluate(policy, short_clips(), ["still", "wave"], noise_levels=levels, max_robot_frames=1,
                                on_group=handed.append)
    assert [group.clip_names for group in handed] == [["wave"], ["still"]]  # longest first, one clip each
    assert grouped.groups == [] and len(whole.groups) == 1
    assert grouped.clip_names == ["still", "wave"] and list(grouped.per_clip) == ["still", "wave"]
    # The same up to the float rounding of the batched policy (a batch of one against a batch of two).
    def numbers(per_clip):
        return {(clip, key): value for clip, row in per_clip.items() for key, value in row.items() if key != "failure"}

    assert numbers(grouped.per_clip) == pytest.approx(numbers(whole.per_clip), rel=1e-5)
    assert grouped.overall == pytest.approx(whole.overall, rel=1e-5)
    assert numbers(grouped.noise[0]["per_clip"]) == pytest.approx(numbers(whole.noise[0]["per_clip"]), rel=1e-5)
    assert numbers(grouped.noise[0]["per_clip"]) != pytest.approx(numbers(whole.per_clip), rel=1e-3)  # corrupted
    wave = handed[0].rollout
    both = whole.groups[0]
    assert both.clip_names == ["wave", "still"]
    np.testing.assert_allclose(wave.qpos[0], both.rollout.qpos[0, :wave.qpos.shape[1]], atol=1e-5)
    paths = evaluate.write_rollouts(handed[0], tmp_path)
    assert np.load(paths["rollout:wave"])["qpos"].shape[0] == int(wave.last_frame()[0]) + 1


@pytest.mark.slow
def test_mjx_and_mujoco_back_ends_agree(setup, mujoco_evaluator):
    """Same short rollout on both simulators: keypoints within 2 mm, rewards and metrics alike.

    MJX runs in float32 and C MuJoCo in float64 with the same solver settings, so they drift apart slowly.
    Slow: compiling the MJX rollout takes about two minutes on a 2-core CPU.
    """
    _, env, policy = setup
    c_run = mujoco_evaluator()
    mjx_run = Evaluator(env, policy.policy, "mjx")()
    np.testing.assert_allclose(mjx_run.keypoints, c_run.keypoints, atol=2e-3)
    np.testing.assert_allclose(mjx_run.qpos, c_run.qpos, atol=2e-2)
    np.testing.assert_allclose(mjx_run.reward, c_run.reward, atol=1e-3)
    np.testing.assert_array_equal(mjx_run.failed_at, c_run.failed_at)
    # Positions agree closely; velocities (joint, base angular) differ more around contact events.
    slices = env.obs_layout["actor"].slices
    for block in ("projected_gravity", "joint_pos", "last_action", "goal_keypoints"):
        np.testing.assert_allclose(mjx_run.obs[..., slices[block]], c_run.obs[..., slices[block]], atol=2e-2,
                                   err_msg=block)
    lib = env.motion_lib
    for name, a, b in zip("ab", evaluate.score(c_run, lib, "ab", 0.2).values(),
                          evaluate.score(mjx_run, lib, "ab", 0.2).values()):
        assert a["mpjpe_mm"] == pytest.approx(b["mpjpe_mm"], abs=1.0), name
        assert a["success"] == b["success"], name


def test_evaluation_judges_every_run_by_the_default_failure_limits():
    """A run trained with other termination limits is evaluated against the defaults (one yardstick for all)."""
    trained = tracking_config.default_config()
    trained.termination.max_keypoint_error = 0.1
    trained.termination.max_anchor_error = 0.0
    trained.termination.max_end_effector_height_error = 0.25
    config = evaluate.eval_env_config(trained.to_dict(), num_clips=3)
    assert config.termination == tracking_config.termination_config()
    assert config.num_envs == 3 and not config.randomization.enabled and not config.push.enabled


def test_clip_names_keep_their_folders_in_output_paths(tmp_path):
    """A dataset's clips are named by relative path: equal file names in two folders must not share a rollout."""
    paths = evaluate.report_paths(tmp_path, ["CMU/01/walk", "KIT/3/walk", "jump_1.0x", "jump_1.5x", "../../etc/x y",
                                             "/abs/z"])
    rollouts = sorted(path.relative_to(tmp_path / "rollouts").as_posix() for path, kind in paths.values()
                      if kind == "rollout")
    assert rollouts == ["CMU/01/walk.npz", "KIT/3/walk.npz", "abs/z.npz", "etc/x_y.npz", "jump_1.0x.npz",
                        "jump_1.5x.npz"]
    assert evaluate.safe_name("..") == "clip"
    with pytest.raises(InputError, match="'a b' and 'a_b' would share the rollout file rollouts/a_b.npz"):
        evaluate.report_paths(tmp_path, ["a b", "a_b"])
