"""Multi-host runs for real: the entry points in two processes of one CPU device each, joined by
`jax.distributed` over localhost, against the same run in one process."""

import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from genmimic_jax.rl import metrics_log
from genmimic_jax.rl.checkpointing import Checkpointer

REPO = pathlib.Path(__file__).resolve().parents[1]
TIMEOUT_S = 300
# Small networks, 8 envs (4 per process), checkpoints every chunk of 2 updates.
TINY_RUN = ["--config.env.num_envs=8", "--config.ppo.rollout_length=8", "--config.network.actor_hidden=(16,)",
            "--config.network.critic_hidden=(16,)", "--config.run.updates_per_chunk=2",
            "--config.run.checkpoint_every_chunks=1"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


class Session:
    """Entry-point processes started together (one process, or the processes of one distributed run)."""

    def __init__(self, log_dir: pathlib.Path, module: str, flags: list[str], num_processes: int = 1):
        env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO))
        env.pop("XLA_FLAGS", None)  # one CPU device per process
        distributed = []
        if num_processes > 1:
            distributed = ["--config.run.distributed=True", f"--config.run.coordinator_address=localhost:{_free_port()}",
                           f"--config.run.num_processes={num_processes}"]
        log_dir.mkdir(parents=True, exist_ok=True)
        self.logs = [log_dir / f"process_{i}.log" for i in range(num_processes)]
        self.processes = []
        for i, log in enumerate(self.logs):
            with log.open("w") as out:
                process_flags = (distributed + [f"--config.run.process_id={i}"]) if distributed else []
                self.processes.append(subprocess.Popen([sys.executable, "-m", module, *flags, *process_flags],
                                                       cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT))

    def outputs(self) -> list[str]:
        """Waits for every process; fails with the tail of each one's output unless all exit 0.

        A process that fails or runs past the time limit ends the others (they would wait for it forever).
        """
        deadline = time.monotonic() + TIMEOUT_S
        while (time.monotonic() < deadline and any(p.poll() is None for p in self.processes)
               and not any(p.poll() for p in self.processes)):
            time.sleep(0.2)
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        codes = [process.returncode for process in self.processes]
        outputs = [log.read_text() for log in self.logs]
        if any(codes):
            pytest.fail(f"limit {TIMEOUT_S} s; " + "\n".join(f"--- process {i}: exit {code}\n{out[-2500:]}"
                                                            for i, (code, out) in enumerate(zip(codes, outputs))))
        return outputs


def _restore(run_dir: pathlib.Path, step: int | None = None) -> tuple[dict, dict]:
    checkpointer = Checkpointer(run_dir / "checkpoints")
    try:
        return checkpointer.restore_raw(step)
    finally:
        checkpointer.close()


def _assert_states_close(actual: dict, desired: dict) -> None:
    leaves_actual, leaves_desired = _flat(actual), _flat(desired)
    assert leaves_actual.keys() == leaves_desired.keys()
    for key, value in leaves_desired.items():
        np.testing.assert_allclose(leaves_actual[key], value, rtol=1e-4, atol=1e-5, err_msg=key)


def _flat(tree, prefix: str = "") -> dict[str, np.ndarray]:
    if tree is None:  # an empty node (optax.EmptyState, the toy env's pipeline_state)
        return {}
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in _flat(value, f"{prefix}{key}/").items()}
    if isinstance(tree, (list, tuple)):
        return {k: v for i, value in enumerate(tree) for k, v in _flat(value, f"{prefix}{i}/").items()}
    return {prefix[:-1]: np.asarray(tree)}


def _train_flags(runs_dir: pathlib.Path, num_updates: int) -> list[str]:
    return ["--config=configs/train.py:toy", f"--config.runs_dir={runs_dir}", "--config.name=run",
            f"--config.ppo.num_updates={num_updates}", *TINY_RUN]


def test_two_process_training_resumes_and_equals_one_process(tmp_path):
    multi_dir, single_dir = tmp_path / "multi" / "run", tmp_path / "single" / "run"
    # Two processes stop after one chunk (as if killed after its checkpoint) while one process trains straight.
    first = Session(tmp_path / "first", "experiments.train", _train_flags(multi_dir.parent, 2), num_processes=2)
    single = Session(tmp_path / "single_log", "experiments.train", _train_flags(single_dir.parent, 4))
    first_outputs, (single_output,) = first.outputs(), single.outputs()
    resumed_outputs = Session(tmp_path / "resumed", "experiments.train", _train_flags(multi_dir.parent, 4),
                              num_processes=2).outputs()

    # Process 0 alone reports, logs and writes the config; the mesh spans both processes' devices.
    assert "8 envs over 1 device(s) in 1 process(es)" in single_output
    for main, other in (first_outputs, resumed_outputs):
        assert "8 envs over 2 device(s) in 2 process(es)" in main and "update " in main
        assert "envs over" not in other and "update " not in other
    assert "update 4/4 |" in resumed_outputs[0] and "update 2/" not in resumed_outputs[0]
    config = json.loads((multi_dir / "config.json").read_text())
    assert (config["run"]["num_processes"], config["run"]["process_id"]) == (2, 0)
    assert len(list((multi_dir / "logs").iterdir())) == 2  # one event file per session
    steps, lengths = metrics_log.read_scalars(multi_dir / "logs")["episode/length"]
    np.testing.assert_array_equal(steps, np.arange(1, 5))
    assert np.all(np.isfinite(lengths))

    # Orbax wrote every process's shard: the env axis comes back whole, equal to the one-process run.
    assert sorted(path.name for path in (multi_dir / "checkpoints").iterdir()) == ["2", "4"]
    multi_state, multi_config = _restore(multi_dir)
    single_state, _ = _restore(single_dir)
    assert multi_config["run"]["num_processes"] == 2
    assert int(multi_state["step"]) == int(single_state["step"]) == 4
    assert multi_state["rollout"]["env_state"]["obs"]["privileged"].shape[0] == 8
    _assert_states_close(multi_state, single_state)
    first_state, _ = _restore(multi_dir, step=2)
    assert np.abs(multi_state["params"]["log_std"] - first_state["params"]["log_std"]).max() > 0


@pytest.mark.slow
def test_two_process_distillation_equals_one_process(tmp_path):
    teacher_dir = tmp_path / "teacher" / "run"
    Session(tmp_path / "teacher_log", "experiments.train", _train_flags(teacher_dir.parent, 2)).outputs()

    def distill_flags(runs_dir):
        return ["--config=configs/distill.py", f"--config.teacher_dir={teacher_dir}", f"--config.runs_dir={runs_dir}",
                "--config.name=run", "--config.network.actor_hidden=(16,)", "--config.dagger.rollout_length=8",
                "--config.dagger.num_updates=4", "--config.run.updates_per_chunk=2"]

    multi = Session(tmp_path / "multi_log", "experiments.distill", distill_flags(tmp_path / "multi"), num_processes=2)
    single = Session(tmp_path / "single_log", "experiments.distill", distill_flags(tmp_path / "single"))
    main, other = multi.outputs()
    single.outputs()
    assert "8 envs over 2 device(s) in 2 process(es)" in main and "update 4/4 |" in main
    assert "update " not in other
    multi_state, multi_config = _restore(tmp_path / "multi" / "run")
    single_state, _ = _restore(tmp_path / "single" / "run")
    assert multi_config["run"]["num_processes"] == 2 and int(multi_state["step"]) == 4
    _assert_states_close(multi_state, single_state)
