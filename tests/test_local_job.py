"""A training run as local processes (`rl.local_job`): refusals and a failing worker, each in one line.

That two local processes train as one process does is in tests/test_physics_backends.py.
"""

import os

import pytest

import configs.train
from genmimic_jax.rl import local_job


def _config(**run):
    config = configs.train.get_config("g1_cpu")
    config.env.num_envs = 4
    config.run.update(run)
    return config


def test_more_processes_than_cores_are_refused():
    cores = len(os.sched_getaffinity(0))
    with pytest.raises(ValueError, match=f"local_processes={cores + 1} is more than this machine's {cores} cores"):
        local_job.spawn("train", _config(), cores + 1)


def test_auto_is_one_process_per_core_with_at_least_64_envs_each():
    config = _config(local_processes=0)
    config.env.num_envs = 64
    assert local_job.resolve_processes(config, "mujoco") == 1
    config.env.num_envs = 128 * len(os.sched_getaffinity(0))
    assert local_job.resolve_processes(config, "mujoco") == len(os.sched_getaffinity(0))
    assert local_job.resolve_processes(config, "mjx") == 1
    assert local_job.resolve_processes(_config(local_processes=3), "mjx") == 3


def test_a_failing_worker_stops_the_job_in_one_line(tmp_path, capfd):
    """Every worker refuses the missing motion folder in its own line; the job says which process stopped."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores")
    config = _config()
    config.runs_dir, config.motion_dir = str(tmp_path / "runs"), str(tmp_path / "missing")
    with pytest.raises(ValueError, match=r"process \d of the 2 local training processes stopped with exit status 1"):
        local_job.spawn("train", config, 2)
    err = capfd.readouterr().err
    assert "missing" in err and "error:" in err and "Traceback" not in err
