"""Checkpoints (exact resume, keep-last-N, config) and the logs they come with."""

import json
import subprocess
import sys

import jax
import ml_collections
import numpy as np
import pytest
from tensorboardX.proto import event_pb2

from genmimic_jax.rl import env_factory, metrics_log, ppo, runner
from genmimic_jax.rl.checkpointing import CheckpointError, Checkpointer
from rl_toy_runs import small_config


def _tiny_config():
    config = small_config(actor_coef=1.0)
    config.network.actor_hidden = (32,)
    config.network.critic_hidden = (32,)
    config.env.num_envs = 16
    config.ppo.rollout_length = 8
    config.run.updates_per_chunk = 2
    config.run.checkpoint_every_chunks = 1
    config.run.keep_checkpoints = 2
    return config


def test_stopped_and_resumed_run_equals_uninterrupted_run(tmp_path):
    config = _tiny_config()
    algorithm = ppo.make_ppo(config, env_factory.make_env(config))
    # Checkpoints restore strongly typed arrays; a weakly typed leaf would make the resumed run recompile.
    assert not any(leaf.weak_type for leaf in jax.tree.leaves(jax.eval_shape(algorithm.init, jax.random.PRNGKey(0))))

    def _run(config, run_dir, num_updates):
        return runner.run(algorithm, config, run_dir, num_updates, config.env.num_envs)[0]

    uninterrupted = _run(config, tmp_path / "straight", 6)
    _run(config, tmp_path / "resumed", 2)  # stops after one chunk, as if killed after its checkpoint
    resumed = _run(config, tmp_path / "resumed", 6)
    assert int(resumed.step) == 6
    for a, b in zip(jax.tree.leaves(uninterrupted), jax.tree.leaves(resumed)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    run_dir = tmp_path / "resumed"
    assert json.loads((run_dir / "config.json").read_text()) == json.loads(json.dumps(config.to_dict()))
    checkpointer = Checkpointer(run_dir / "checkpoints", keep=2)
    assert checkpointer.latest_step() == 6
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit()) == ["4", "6"]
    raw_state, raw_config = checkpointer.restore_raw()
    policy_fields, _ = checkpointer.restore_raw(fields=("params", "normalizer", "teacher"))
    checkpointer.close()
    np.testing.assert_array_equal(raw_state["params"]["log_std"], np.asarray(resumed.params["log_std"]))
    assert "rollout" in raw_state and sorted(policy_fields) == ["normalizer", "params"]
    for a, b in zip(jax.tree.leaves(policy_fields["params"]), jax.tree.leaves(raw_state["params"])):
        np.testing.assert_array_equal(a, b)
    assert raw_config["ppo"]["actor_obs"] == "privileged"

    # Logs: one value per update across both sessions of the resumed run, readable and plottable.
    scalars = metrics_log.read_scalars(run_dir / "logs")
    steps, values = scalars["episode/length"]
    np.testing.assert_array_equal(steps, np.arange(1, 7))
    assert np.all(np.isfinite(values))
    assert {"loss/policy", "policy/kl", "symmetry/actor_error", "reward/position",
            "time/env_steps_per_s"} <= set(scalars)
    # TensorBoard shows the run config as text (one summary per session).
    texts = [value.tag for path in (run_dir / "logs").iterdir() for record in metrics_log._records(path)
             for value in event_pb2.Event.FromString(record).summary.value
             if value.metadata.plugin_data.plugin_name == "text"]
    assert texts == ["config/text_summary"] * 2
    out = tmp_path / "curves.png"
    result = subprocess.run([sys.executable, "-m", "experiments.plot_logs", f"--logdir={run_dir / 'logs'}",
                             f"--out={out}"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_run_started_from_another_run_s_checkpoint_goes_on_from_its_state_under_its_own_config(tmp_path):
    config = _tiny_config()

    def _run(config, run_dir, num_updates):
        algorithm = ppo.make_ppo(config, env_factory.make_env(config))
        return runner.run(algorithm, config, run_dir, num_updates, config.env.num_envs)[0]

    def _listing(directory):
        return sorted((str(path), path.stat().st_mtime_ns) for path in directory.rglob("*"))

    uninterrupted = _run(config, tmp_path / "straight", 6)
    source = tmp_path / "source"
    _run(config, source, 4)  # keeps the checkpoints of updates 2 and 4
    before = _listing(source)

    same = config.copy_and_resolve_references()
    same.run.init_from, same.run.init_step = str(source), 2
    branched = _run(same, tmp_path / "same", 6)
    for a, b in zip(jax.tree.leaves(uninterrupted), jax.tree.leaves(branched)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    changed = config.copy_and_resolve_references()
    changed.run.init_from = str(source)  # its latest checkpoint, update 4
    changed.ppo.entropy_coef = 0.5
    stage = _run(changed, tmp_path / "changed", 6)
    assert int(stage.step) == 6
    assert not np.array_equal(np.asarray(stage.params["log_std"]), np.asarray(uninterrupted.params["log_std"]))
    assert json.loads((tmp_path / "changed" / "config.json").read_text())["ppo"]["entropy_coef"] == 0.5
    changed.run.init_from = ""  # once the run has checkpoints, where it started from no longer matters
    assert int(_run(changed, tmp_path / "changed", 6).step) == 6
    assert _listing(source) == before  # the source run is read, never written

    missing = config.copy_and_resolve_references()
    missing.run.init_from = str(tmp_path / "nowhere")
    with pytest.raises(CheckpointError, match="nowhere/checkpoints: no such checkpoint directory"):
        _run(missing, tmp_path / "from_nowhere", 6)
    other_network = config.copy_and_resolve_references()
    other_network.run.init_from = str(source)
    other_network.network.actor_hidden = (16,)
    with pytest.raises(CheckpointError, match="other shapes than this run's"):
        _run(other_network, tmp_path / "other_network", 6)
    assert _listing(source) == before


def test_a_run_started_from_another_run_s_weights_only_takes_its_networks_and_normaliser(tmp_path):
    """`run.init_weights_only`: the source's weights and observation normaliser, everything else fresh, so the
    source may have run other environments (here twice as many: other rollout shapes)."""
    config = _tiny_config()

    def _run(config, run_dir, num_updates):
        algorithm = ppo.make_ppo(config, env_factory.make_env(config))
        return runner.run(algorithm, config, run_dir, num_updates, config.env.num_envs)[0]

    source_config = config.copy_and_resolve_references()
    source_config.env.num_envs = 32
    source = _run(source_config, tmp_path / "source", 4)
    fresh = _run(config, tmp_path / "fresh", 0)
    warm = config.copy_and_resolve_references()
    warm.run.init_from, warm.run.init_weights_only = str(tmp_path / "source"), True
    started = _run(warm, tmp_path / "warm", 0)
    for name in runner.WEIGHT_FIELDS:
        for a, b in zip(jax.tree.leaves(getattr(source, name)), jax.tree.leaves(getattr(started, name))):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(source.params["log_std"]), np.asarray(fresh.params["log_std"]))
    for a, b in zip(jax.tree.leaves((fresh.opt_state, fresh.rollout, fresh.step)),
                    jax.tree.leaves((started.opt_state, started.rollout, started.step))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(_run(warm, tmp_path / "warm", 2).step) == 2
    other_network = warm.copy_and_resolve_references()
    other_network.network.actor_hidden = (16,)
    with pytest.raises(CheckpointError, match="its params have other shapes than this run's"):
        _run(other_network, tmp_path / "other_network", 2)


def test_reading_checkpoints_read_only_logs_nothing(tmp_path, caplog):
    """A policy load opens a run's checkpoints read-only, the pipeline's best-teacher pick once per checkpoint:
    orbax's notice of each opening stays out of the output."""
    (tmp_path / "checkpoints").mkdir()
    with caplog.at_level("INFO"):
        Checkpointer(tmp_path / "checkpoints", read_only=True).close()
    assert not [r for r in caplog.records if "read only" in r.getMessage()]
    assert not Checkpointer(tmp_path / "checkpoints", read_only=True).all_steps()


def test_resume_allows_only_the_listed_config_changes_and_reads_older_distill_configs(tmp_path):
    config = ml_collections.ConfigDict({"seed": 0, "env": {"num_envs": 8}, "dagger": {"num_updates": 4},
                                        "run": {"process_id": 0}, "ablation": {"num_updates": 1}})
    older = dict(config.to_dict(), num_envs=-1)  # distillation configs had a top-level num_envs
    (tmp_path / "config.json").write_text(json.dumps(older))
    runner.check_resumable(tmp_path, config)
    config.dagger.num_updates, config.run.process_id = 8, 1  # more updates, another launch: resumable
    runner.check_resumable(tmp_path, config)
    config.ablation.num_updates = 2  # a key merely ending like a resumable one is not
    with pytest.raises(ValueError, match="different config \\(ablation.num_updates\\)"):
        runner.check_resumable(tmp_path, config)


def test_resume_reads_configs_stored_before_a_key_was_added_when_it_keeps_the_old_behaviour(tmp_path):
    config = ml_collections.ConfigDict({"dagger": {"num_updates": 4, "lr_decay_updates": 0,
                                                   "final_learning_rate": 5e-5}})
    (tmp_path / "config.json").write_text(json.dumps({"dagger": {"num_updates": 4}}))
    runner.check_resumable(tmp_path, config)
    config.dagger.lr_decay_updates = 1000  # the new key changes what the run does: another run
    with pytest.raises(ValueError, match="different config \\(dagger.lr_decay_updates\\)"):
        runner.check_resumable(tmp_path, config)


def test_a_checkpoint_written_before_a_reward_term_existed_restores_with_that_terms_step_metric_at_zero(tmp_path):
    def state(terms):
        metrics = {f"reward/{term}": np.full(4, 2.0, np.float32) for term in terms}
        return {"params": np.arange(3, dtype=np.float32), "act": np.zeros((4, 0), np.float32),
                "rollout": {"env_state": {"metrics": dict(metrics, episode_length=np.full(4, 7.0, np.float32))}}}

    def abstract(tree):
        device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device), tree)

    saved = Checkpointer(tmp_path / "older")
    saved.save(1, state(["position"]), ml_collections.ConfigDict({"seed": 0}))
    saved.close()
    restored = Checkpointer(tmp_path / "older").restore(abstract(state(["position", "center_of_mass"])))
    metrics = restored["rollout"]["env_state"]["metrics"]
    np.testing.assert_array_equal(metrics["reward/position"], np.full(4, 2.0))
    np.testing.assert_array_equal(metrics["reward/center_of_mass"], np.zeros(4))
    np.testing.assert_array_equal(metrics["episode_length"], np.full(4, 7.0))
    np.testing.assert_array_equal(restored["params"], np.arange(3))
    assert restored["act"].shape == (4, 0)
    # Anything else the checkpoint lacks is still another layout, refused in one line.
    other = state(["position"])
    other["rollout"]["env_state"]["counter"] = np.zeros(4, np.int32)
    with pytest.raises(CheckpointError, match=r"older/1: cannot restore the checkpoint"):
        Checkpointer(tmp_path / "older").restore(abstract(other))


def test_missing_or_corrupt_logs_and_checkpoints_give_clear_errors(tmp_path):
    with pytest.raises(metrics_log.LogReadError, match="no TensorBoard event files"):
        metrics_log.read_scalars(tmp_path)
    writer = metrics_log.Logger(tmp_path / "logs", total_updates=1)
    writer.write(1, {"a": 1.0})
    writer.close()
    event_file = next((tmp_path / "logs").iterdir())
    data = bytearray(event_file.read_bytes())
    data[-6] ^= 0xFF  # flip a payload byte of the last record
    event_file.write_bytes(bytes(data))
    with pytest.raises(metrics_log.LogReadError, match="corrupt record"):
        metrics_log.read_scalars(tmp_path / "logs")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        Checkpointer(tmp_path / "empty").restore_raw()
    # A state of other shapes (an older layout) is refused in one line that says to start a new run.
    saved = Checkpointer(tmp_path / "older")
    saved.save(1, {"table": np.zeros((4, 6), np.float32)}, ml_collections.ConfigDict({"seed": 0}))
    saved.close()
    with pytest.raises(CheckpointError, match=r"older/1: cannot restore .*other shapes .*start a new run"):
        Checkpointer(tmp_path / "older").restore({"table": jax.ShapeDtypeStruct(
            (4, 2), np.float32, sharding=jax.sharding.SingleDeviceSharding(jax.devices()[0]))})
    result = subprocess.run([sys.executable, "-m", "experiments.plot_logs", f"--logdir={tmp_path / 'empty'}"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'empty'}: no TensorBoard event files"]


def test_plot_logs_draws_a_runs_evaluations_as_that_run(tmp_path):
    """`experiments.evaluate --config.log_to_run` writes into <run>/logs/evaluation; the plot keeps one run (one
    colour, one legend entry) per training run, its eval/* curves included."""
    from experiments import evaluate, plot_logs

    for name, value in (("pooled", 1.0), ("per_clip", 2.0)):
        logs = tmp_path / name / "logs"
        writer = metrics_log.Logger(logs, total_updates=2)
        writer.write(1, {"episode/length": value})
        writer.close()
        evaluate.log_to_run({"success_rate": 10 * value}, tmp_path / name, step=2)
    runs = plot_logs.read_runs(tmp_path)
    assert sorted(runs) == ["per_clip/logs", "pooled/logs"]
    assert runs["pooled/logs"]["eval/success_rate"][1].tolist() == [10.0]
    assert runs["per_clip/logs"]["episode/length"][1].tolist() == [2.0]
    assert list(plot_logs.read_runs(tmp_path / "pooled" / "logs")) == ["logs"]
    assert plot_logs.plot(tmp_path, tmp_path / "curves.png", ["episode/length", "eval/success_rate"])
