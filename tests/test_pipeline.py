"""The main job end to end: `python -m experiments.pipeline` (and the export / evaluate entry points)."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import onnx
import pytest

from genmimic_jax.envs import tracking as tracking_config
from genmimic_jax.envs import observations
from genmimic_jax.export import onnx_export
from eval_helpers import random_policy, write_student_run

REPO = pathlib.Path(__file__).resolve().parents[1]


def _run(module: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def student_run(tmp_path_factory):
    """A student run directory holding a small random deployable policy."""
    env_config = tracking_config.default_config()
    size = observations.actor_layout(env_config.history_length, len(env_config.goal_offsets)).size
    run_dir = tmp_path_factory.mktemp("runs") / "student"
    write_student_run(run_dir, random_policy(env_config, size, seed=3, action_gain=5.0).policy, env_config)
    return run_dir


def test_pipeline_with_a_given_policy_runs_every_stage(student_run, tmp_path):
    out = tmp_path / "pipeline"
    result = _run("experiments.pipeline", f"--config.checkpoint={student_run}", f"--config.output_dir={out}",
                  "--config.builtin_seconds=1.0", "--config.evaluate.noise_corruptions=jitter,drift")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for stage in ("ingest", "retarget", "policy", "evaluate", "export", "sim2sim", "video"):
        assert f"] {stage}:" in result.stdout
    assert "using the given policy" in result.stdout and "training one first" not in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["export"]["parity_max_abs_error"] <= 1e-5
    assert summary["sim2sim"]["mean_divergence_mm"] < 5.0  # the ONNX policy re-runs the JAX evaluation
    report = json.loads((out / "evaluation" / "report.json").read_text())
    assert [e["corruption"] for e in report["noise_suite"]] == ["jitter"] * 9 + ["drift"] * 9  # 3 levels x 3 seeds
    assert [level["seeds"] for level in report["noise_suite_over_seeds"]] == [[0, 1, 2]] * 6
    assert [e["seed"] for e in summary["evaluation"]["noise_suite"][:3]] == [0, 1, 2]
    rollout = np.load(out / "evaluation" / "rollouts" / "builtin_motion.npz")
    assert rollout["qpos"].shape[1] == 36 and rollout["qpos"].shape[0] >= 2
    model = onnx.load(str(out / "policy.onnx"))
    assert onnx_export.read_metadata(model)["observation"] == "actor"
    assert (out / "retargeted" / "builtin_motion.npz").is_file()


def test_bad_input_is_one_clear_line(tmp_path):
    broken = tmp_path / "broken.bvh"
    broken.write_text("HIERARCHY\nROOT Hips\n{\n")
    result = _run("experiments.pipeline", f"--config.input={broken}", f"--config.output_dir={tmp_path / 'out'}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {broken}")
    assert "Traceback" not in result.stderr


def test_export_and_evaluate_entry_points(student_run, tmp_path):
    exported = _run("experiments.export", f"--config.checkpoint={student_run}",
                    f"--config.output={tmp_path / 'p.onnx'}")
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert "DDS motor order" in exported.stdout and (tmp_path / "p.onnx").is_file()
    missing = _run("experiments.export", f"--config.checkpoint={tmp_path / 'nothing'}")
    assert missing.returncode == 1 and "not a run directory" in missing.stderr
    no_motions = _run("experiments.evaluate", f"--config.checkpoint={student_run}",
                      f"--config.motion_dir={tmp_path / 'none'}")
    assert no_motions.returncode == 1 and "no such file or folder" in no_motions.stderr


@pytest.mark.slow
def test_pipeline_trains_a_policy_when_none_is_given(tmp_path):
    """The README's first command at toy sizes: trains a teacher and a student, then every later stage."""
    out = tmp_path / "pipeline"
    result = _run("experiments.pipeline", f"--config.output_dir={out}", "--config.builtin_seconds=1.0",
                  "--config.train_minutes=30", "--config.teacher.env.num_envs=16",
                  "--config.teacher.ppo.rollout_length=8", "--config.teacher.ppo.num_updates=2",
                  "--config.teacher.run.updates_per_chunk=1",
                  "--config.student.dagger.num_updates=2", "--config.student.run.updates_per_chunk=1",
                  "--config.evaluate.noise_suite=False", timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "training one first with the CPU recipe" in result.stdout
    assert "teacher step 2: success" in result.stdout and "distilling the teacher of step" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["policy"]["trained_here"] and summary["policy"]["kind"] == "student"
    assert summary["policy"]["step"] == 2
    assert (out / "runs" / "teacher" / "checkpoints").is_dir()
    # A second run reuses the trained student instead of training again.
    again = _run("experiments.pipeline", f"--config.output_dir={out}", "--config.builtin_seconds=1.0",
                 "--config.evaluate.noise_suite=False")
    assert again.returncode == 0 and "reusing the student" in again.stdout
