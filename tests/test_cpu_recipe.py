"""The CPU training recipe on a real clip: a teacher that follows a shared walking clip without falling (slow)."""

import pathlib
import subprocess
import sys

import pytest

from configs import train as train_config
from genmimic_jax.eval import evaluate
from genmimic_jax.retarget.io import load_robot_motions
from genmimic_jax.rl import launch
from genmimic_jax.rl.policy import load_policy

REPO = pathlib.Path(__file__).resolve().parents[1]
WALK = "dataset-1_walk_normal_001.bvh"
TRAIN_MINUTES = 25.0


@pytest.mark.slow
def test_cpu_recipe_follows_a_real_walk(shared_dir, tmp_path):
    """Retarget the Bandai walk, train the CPU recipe (C MuJoCo) for TRAIN_MINUTES, evaluate on C MuJoCo."""
    motions = tmp_path / "motions"
    motions.mkdir()
    (motions / WALK).symlink_to(shared_dir / "motions" / "bandai_namco" / WALK)
    retargeted = tmp_path / "retargeted"
    result = subprocess.run([sys.executable, "-m", "experiments.retarget", f"--input={motions}",
                             f"--output={retargeted}"], cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]

    config = train_config.get_config("g1_cpu")
    config.runs_dir, config.name, config.motion_dir = str(tmp_path / "runs"), "walk", str(retargeted)
    config.run.max_minutes = TRAIN_MINUTES
    run_dir = launch.train(config)

    clips, names = load_robot_motions(retargeted)
    report = evaluate.evaluate(load_policy(run_dir), clips, names, backend="mujoco")
    walk = report.per_clip[names[0]]
    assert walk["failed"] == 0.0, walk  # followed to the end without falling
    assert walk["success"] == 1.0, walk
