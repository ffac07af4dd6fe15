"""DAgger: the aggregated dataset (FIFO ring), the student's action error falling, exact resume, two devices."""

import os
import pathlib
import re
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from configs import distill as distill_config
from configs import train as train_config
from genmimic_jax.envs import tracking
from genmimic_jax.export import onnx_export
from genmimic_jax.rl import dagger, env_factory, launch, runner
from genmimic_jax.rl.networks import make_actor
from genmimic_jax.rl.policy import Policy
from eval_helpers import random_policy, write_teacher_run
from rl_toy_runs import frozen_actor, train_toy

REPO = pathlib.Path(__file__).resolve().parents[1]


def _distill_config(num_updates: int) -> ml_collections.ConfigDict:
    config = distill_config.get_config()
    config.network.actor_hidden = (64, 64)
    config.dagger.num_updates = num_updates
    config.dagger.rollout_length = 32
    config.run.updates_per_chunk = num_updates
    return config


def tiny_setup(dataset_rollouts: int = 2):
    """(distill config, toy env with 16 envs, untrained teacher with O(1) actions): cheap to compile."""
    teacher_config = train_config.get_config("toy")
    teacher_config.env.num_envs = 16
    teacher_config.network.actor_hidden = (8,)
    env = env_factory.make_env(teacher_config)
    obs_size = env.observation_size[teacher_config.ppo.actor_obs]
    network = make_actor((8,), env.action_size, teacher_config.network.activation)
    params = network.init(jax.random.PRNGKey(7), jnp.zeros((1, obs_size)))["params"]
    params["Dense_1"] = dict(params["Dense_1"], kernel=params["Dense_1"]["kernel"] * 100.0)  # O(1) actions
    teacher = Policy(actor_params=params, obs_mean=jnp.zeros(obs_size), obs_std=jnp.ones(obs_size),
                     obs_key=teacher_config.ppo.actor_obs, obs_clip=teacher_config.ppo.obs_clip, hidden_sizes=(8,),
                     activation=teacher_config.network.activation)
    config = _distill_config(num_updates=6)
    config.network.actor_hidden = (8,)
    config.dagger.rollout_length = 8
    config.dagger.dataset_rollouts = dataset_rollouts
    config.run.updates_per_chunk = 2
    config.run.checkpoint_every_chunks = 1
    return config, env, teacher


def test_dataset_ring_keeps_the_last_rollouts_in_order():
    num_envs, capacity, length = 2, 3, 4
    dataset = dagger.init_dataset(num_envs, capacity, length, obs_size=1, action_size=2)
    # Rollout i: obs [T, N, 1] = 100 i + 10 n + t, labels its negative.
    rollouts = [100 * i + 10 * np.arange(num_envs)[None, :, None] + np.arange(length)[:, None, None]
                for i in range(capacity + 1)]
    filled = []
    for i, obs in enumerate(rollouts):
        dataset = dagger.insert(dataset, jnp.asarray(obs, jnp.float32), -jnp.asarray(obs.repeat(2, -1), jnp.float32),
                                jnp.asarray(i))
        filled.append(int(dagger.num_filled(jnp.asarray(i + 1), capacity)))
    assert filled == [1, 2, 3, 3]
    held = np.asarray(dataset.obs)
    assert held.shape == (num_envs, capacity, length, 1)
    # The oldest rollout (0) was overwritten by the newest (3) in slot 0; 1 and 2 stay in their slots.
    for slot, i in enumerate([3, 1, 2]):
        np.testing.assert_array_equal(held[:, slot], np.swapaxes(rollouts[i], 0, 1))
    assert not np.isin(rollouts[0], held).any()
    np.testing.assert_array_equal(np.asarray(dataset.label), -held.repeat(2, -1))


def test_epochs_draw_uniformly_from_the_filled_slots_only():
    dataset = dagger.init_dataset(num_envs=3, capacity=4, length=6, obs_size=1, action_size=1)
    draw = jax.jit(jax.vmap(dagger.sample_epoch, in_axes=(0, None, None)))
    keys = jax.random.split(jax.random.PRNGKey(0), 4000)
    # One filled slot: every epoch visits each sample of the latest rollout exactly once (on-policy DAgger).
    once = np.asarray(draw(keys[:50], dataset, jnp.asarray(1)))
    np.testing.assert_array_equal(np.sort(once, axis=-1), np.broadcast_to(np.arange(6), once.shape))
    # Two of four filled: 6 distinct indices per env from the 12 filled ones, each equally often.
    indices = np.asarray(draw(keys, dataset, jnp.asarray(2)))
    assert indices.max() < 12
    assert all(len(set(row)) == 6 for row in indices.reshape(-1, 6))
    frequency = np.bincount(indices.ravel(), minlength=24) / (4000 * 3)
    np.testing.assert_allclose(frequency[:12], 0.5, atol=0.03)
    assert not frequency[12:].any()


def test_student_action_error_falls(tmp_path):
    teacher_config, env, teacher_state, _ = train_toy(actor_coef=1.0)
    config = _distill_config(num_updates=15)
    config.seed = 1
    assert config.dagger.dataset_rollouts > 1  # the default aggregates
    algorithm = dagger.make_dagger(config, env, frozen_actor(teacher_config, teacher_state))
    assert not any(leaf.weak_type for leaf in jax.tree.leaves(jax.eval_shape(algorithm.init, jax.random.PRNGKey(0))))
    state, metrics = runner.run(algorithm, config, tmp_path, 15, env.num_envs)
    error = np.asarray(metrics["distill/action_error"])
    assert np.all(np.isfinite(error))
    assert error[-5:].mean() < 0.25 * error[0]
    np.testing.assert_allclose(metrics["distill/beta"][:3], [1.0, 0.95, 0.95**2], rtol=1e-6)
    capacity = config.dagger.dataset_rollouts
    np.testing.assert_array_equal(metrics["distill/dataset_rollouts"], np.minimum(np.arange(1, 16), capacity))
    assert state.dataset.obs.shape == (env.num_envs, capacity, 32, env.observation_size["actor"])
    # The student obeys its own observation only: it has no critic and no log-std.
    assert set(state.params) == {"actor"}
    assert state.params["actor"]["Dense_0"]["kernel"].shape[0] == env.observation_size["actor"]


def test_bad_dataset_and_minibatch_settings_are_rejected():
    config, env, teacher = tiny_setup()
    config.dagger.num_minibatches = 3
    with pytest.raises(ValueError, match="num_minibatches"):
        dagger.make_dagger(config, env, teacher)
    config, env, teacher = tiny_setup(dataset_rollouts=0)
    with pytest.raises(ValueError, match="dataset_rollouts=0"):
        dagger.make_dagger(config, env, teacher)


def test_the_student_learning_rate_decays_linearly_when_asked():
    config, env, teacher = tiny_setup()
    assert dagger.learning_rate(config.dagger) == config.dagger.learning_rate  # constant by default
    config.dagger.lr_decay_updates, config.dagger.final_learning_rate = 10, 1e-5
    schedule = dagger.learning_rate(config.dagger)
    sgd_steps = config.dagger.num_epochs * config.dagger.num_minibatches  # per update
    assert float(schedule(0)) == pytest.approx(config.dagger.learning_rate)
    assert float(schedule(5 * sgd_steps)) == pytest.approx((config.dagger.learning_rate + 1e-5) / 2)
    assert float(schedule(10 * sgd_steps)) == float(schedule(10**6)) == pytest.approx(1e-5)
    # Decayed to 0 within the first update, the student stops changing from the second on.
    config.dagger.lr_decay_updates, config.dagger.final_learning_rate = 1, 0.0
    algorithm = dagger.make_dagger(config, env, teacher)
    update = jax.jit(algorithm.update)
    first = algorithm.init(jax.random.PRNGKey(0))
    second = update(first)[0]
    third = update(second)[0]
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), first.params, second.params)
    assert any(jax.tree.leaves(changed))
    jax.tree.map(np.testing.assert_array_equal, second.params, third.params)
    config.dagger.lr_decay_updates = -1
    with pytest.raises(ValueError, match="lr_decay_updates=-1"):
        dagger.make_dagger(config, env, teacher)


def test_the_student_learning_rate_can_follow_the_time_budget(tmp_path):
    config, env, teacher = tiny_setup()
    config.dagger.lr_decay_budget_share, config.dagger.final_learning_rate = 0.05, 0.0
    config.run.max_minutes = 10.0  # the rate reaches 0 after 30 s of training
    algorithm = dagger.make_dagger(config, env, teacher)
    update = jax.jit(algorithm.update)
    start = algorithm.init(jax.random.PRNGKey(0))
    assert float(start.train_seconds) == 0.0
    rates = {}
    for seconds in (0.0, 15.0, 30.0, 90.0):
        state = algorithm.add_train_seconds(start, seconds)
        after, metrics = update(state)
        rates[seconds] = float(metrics["distill/learning_rate"])
        assert float(after.train_seconds) == seconds  # only the runner moves the clock
    assert rates == pytest.approx({0.0: config.dagger.learning_rate, 15.0: config.dagger.learning_rate / 2,
                                   30.0: 0.0, 90.0: 0.0})
    # At rate 0 an update leaves the student as it was.
    done = algorithm.add_train_seconds(start, 30.0)
    jax.tree.map(np.testing.assert_array_equal, done.params, update(done)[0].params)

    # The runner adds each chunk's wall-clock time; a resumed run goes on from its stored clock.
    state, metrics = runner.run(algorithm, config, tmp_path / "timed", 4, env.num_envs)
    first_clock = float(state.train_seconds)
    assert 0.0 < first_clock < 600.0
    assert metrics["distill/learning_rate"][0] == pytest.approx(config.dagger.learning_rate)
    assert np.all(np.diff(metrics["distill/learning_rate"]) <= 0.0)
    resumed, resumed_metrics = runner.run(algorithm, config, tmp_path / "timed", 6, env.num_envs)
    assert int(resumed.step) == 6 and float(resumed.train_seconds) > first_clock
    assert resumed_metrics["distill/learning_rate"][0] < config.dagger.learning_rate

    for key, value, problem in (("lr_decay_budget_share", 1.5, "must be in"), ("lr_decay_updates", 10, "set one"),
                                ("max_minutes", 0.0, "needs a time budget")):
        bad, _, _ = tiny_setup()
        bad.dagger.lr_decay_budget_share, bad.run.max_minutes = 0.5, 1.0
        (bad.run if key == "max_minutes" else bad.dagger)[key] = value
        with pytest.raises(ValueError, match=problem):
            dagger.make_dagger(bad, env, teacher)


def test_the_student_trains_in_the_teacher_env_with_its_own_actor_observation(tmp_path):
    """`launch.with_teacher`: the teacher run's env, but the student config's observation noise and whether the
    actor sees its root velocity; a teacher run stored before that key existed reads as without it."""
    env_config = tracking.default_config()
    env_config.num_envs = 8
    size = onnx_export.observation_layout(env_config, "privileged").size
    teacher = random_policy(env_config, size, obs_key="privileged").policy
    stored = env_config.to_dict()
    del stored["actor_base_lin_vel"]
    write_teacher_run(tmp_path / "teacher", teacher, ml_collections.ConfigDict(stored))
    config = distill_config.get_config()
    config.teacher_dir = str(tmp_path / "teacher")
    completed, loaded = launch.with_teacher(config)
    assert completed.env.num_envs == 8 and not completed.env.actor_base_lin_vel
    assert completed.env.noise.goal_drift_speed == config.env.noise.goal_drift_speed > 0
    assert completed.env.noise.goal_bone_scale == config.env.noise.goal_bone_scale > 0
    assert loaded.obs_key == "privileged" and completed.teacher.step == 1
    config.env.actor_base_lin_vel = True
    completed, _ = launch.with_teacher(config)
    assert completed.env.actor_base_lin_vel
    env = env_factory.make_env(completed)
    assert env.observation_size["actor"] == onnx_export.observation_layout(stored, "actor").size + 3


def test_stopped_and_resumed_distillation_equals_uninterrupted(tmp_path):
    config, env, teacher = tiny_setup(dataset_rollouts=4)  # resumes with 2 of 4 slots filled, then wraps
    algorithm = dagger.make_dagger(config, env, teacher)
    uninterrupted, _ = runner.run(algorithm, config, tmp_path / "straight", 6, env.num_envs)
    runner.run(algorithm, config, tmp_path / "resumed", 2, env.num_envs)  # stops after one chunk
    resumed, _ = runner.run(algorithm, config, tmp_path / "resumed", 6, env.num_envs)
    assert int(resumed.step) == 6
    assert (np.abs(np.asarray(resumed.dataset.obs)).max(axis=(0, 2, 3)) > 0).all()  # all 4 slots filled
    for a, b in zip(jax.tree.leaves(uninterrupted), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


_TWO_DEVICE_SCRIPT = textwrap.dedent("""
    import jax
    import numpy as np
    from genmimic_jax.rl import dagger, distributed, runner
    from test_dagger import tiny_setup, collective_elements

    assert jax.device_count() == 2, jax.devices()
    config, env, teacher = tiny_setup(dataset_rollouts=2)
    algorithm = dagger.make_dagger(config, env, teacher)
    results = {}
    for count in (1, 2):
        sharded = runner.shard(algorithm, distributed.make_mesh(jax.devices()[:count]), 3)  # 3 inserts: wraps
        state = sharded.init(jax.random.PRNGKey(0))
        compiled = sharded.chunk.lower(state).compile()
        state, metrics = compiled(state)
        obs = state.dataset.obs
        assert len(obs.sharding.device_set) == count
        assert obs.addressable_shards[0].data.shape == (16 // count,) + obs.shape[1:]
        assert state.params["actor"]["Dense_0"]["kernel"].sharding.is_fully_replicated
        if count == 2:
            # Devices exchange parameter-sized gradients and statistics, never per-env data: the
            # collectives of an update carry less than one rollout's student observations.
            moved = collective_elements(compiled.as_text())
            assert 0 < moved < obs.shape[0] * obs.shape[2] * obs.shape[3], moved
        results[count] = jax.tree.map(np.asarray, (state.params, state.normalizer.mean, state.opt_state,
                                                   state.dataset, metrics))
    for a, b in zip(jax.tree.leaves(results[1]), jax.tree.leaves(results[2]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    print("OK")
""")


def collective_elements(hlo: str) -> int:
    """Total elements of the results of all cross-device collectives in compiled HLO text."""
    total = 0
    for line in hlo.splitlines():
        match = re.search(r"=\s*(.*?)\s(all-reduce|all-gather|all-to-all|collective-permute|reduce-scatter)"
                          r"(-start)?\(", line)
        if match:
            total += sum(int(np.prod([int(d) for d in dims.split(",") if d]))
                         for dims in re.findall(r"\[([\d,]*)\]", match.group(1)))
    return total


def test_two_devices_equal_one_and_keep_the_dataset_sharded():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", _TWO_DEVICE_SCRIPT], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.strip().endswith("OK")
