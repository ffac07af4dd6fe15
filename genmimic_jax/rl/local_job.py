"""One training run as several processes of this machine, each with one JAX CPU device and its share of the cores.

A single process steps the C MuJoCo physics on every core but computes observations, rewards and the learning
update on one. Several processes split that work too, at the price of cross-process collectives (on a 2-core
machine two processes train slower than one: `benchmarks/RESULTS.md`, `benchmarks/cpu_training.py`); C MuJoCo
runs one JAX device per process, so this is also how its runs span several devices. `spawn` starts
`config.run.local_processes` worker processes joined by `jax.distributed` on localhost (data-parallel over the
envs, exactly as a multi-host run), each pinned to its own cores, and waits for them: the command the user typed
stays the one process to watch, and it prints what worker 0 prints. A worker that fails stops the others.

    python -m genmimic_jax.rl.local_job <train|distill> <config.json> <process id> <cores, comma-separated>

is how a worker is started (by `spawn`, not by hand).
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

import ml_collections

from genmimic_jax import errors

ENTRIES = ("train", "distill")


def resolve_processes(config: ml_collections.ConfigDict, backend: str) -> int:
    """How many local processes a run uses: `run.local_processes`, or for 0 (auto) one per core on the C MuJoCo
    back end, as many as split `env.num_envs` evenly with at least 64 envs each (1 with MJX)."""
    wanted = int(config.run.local_processes)
    if wanted > 0:
        return wanted
    if backend != "mujoco":
        return 1
    cores, num_envs = len(os.sched_getaffinity(0)), int(config.env.num_envs)
    return max([n for n in range(1, cores + 1) if num_envs % n == 0 and num_envs // n >= 64] or [1])


def spawn(entry: str, config: ml_collections.ConfigDict, processes: int) -> None:
    """Runs `launch.<entry>(config)` as `processes` local worker processes and waits for all of them.

    Raises:
      ValueError: more processes than cores, or a worker stopped with an error (its own error line is above).
    """
    cores = sorted(os.sched_getaffinity(0))
    if processes > len(cores):
        raise ValueError(f"--config.run.local_processes={processes} is more than this machine's {len(cores)} cores")
    shares = [cores[i * len(cores) // processes:(i + 1) * len(cores) // processes] for i in range(processes)]
    print(f"training as {processes} local processes ({len(shares[0])} core{'s' if len(shares[0]) > 1 else ''} "
          "each, data-parallel over the envs)", flush=True)
    with tempfile.TemporaryDirectory(prefix="genmimic_local_job_") as folder:
        config_path = pathlib.Path(folder) / "config.json"
        config_path.write_text(json.dumps(_worker_config(config, processes, _free_port()).to_dict()))
        workers = [subprocess.Popen(
            [sys.executable, "-m", __name__, entry, str(config_path), str(i), ",".join(map(str, share))],
            stdout=None if i == 0 else subprocess.DEVNULL) for i, share in enumerate(shares)]
        try:
            _wait(workers)
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()


def _worker_config(config: ml_collections.ConfigDict, processes: int, port: int) -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict(config.to_dict())
    config.run.distributed = True
    config.run.coordinator_address = f"localhost:{port}"
    config.run.num_processes = processes
    config.run.local_processes = 1  # a worker is one process of the job
    return config


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def _wait(workers: list[subprocess.Popen]) -> None:
    """Returns when every worker has exited 0; raises as soon as one exits otherwise."""
    while True:
        codes = [worker.poll() for worker in workers]
        failed = [(i, code) for i, code in enumerate(codes) if code not in (None, 0)]
        if failed:
            i, code = failed[0]
            raise ValueError(f"process {i} of the {len(workers)} local training processes stopped with exit status "
                             f"{code} (its error is above); the others were stopped")
        if all(code == 0 for code in codes):
            return
        time.sleep(0.5)


def _main(argv: list[str]) -> int:
    entry, config_path, process_id, cores = argv[1:]
    if entry not in ENTRIES:
        raise SystemExit(f"usage: python -m {__name__} <{'|'.join(ENTRIES)}> <config.json> <process id> <cores>")
    os.sched_setaffinity(0, {int(core) for core in cores.split(",")})
    config = ml_collections.ConfigDict(json.loads(pathlib.Path(config_path).read_text()))
    config.run.process_id = int(process_id)
    from genmimic_jax.rl import launch  # imports launch only in a worker (launch imports this module)

    try:
        getattr(launch, entry)(config)
    except ValueError as error:
        print(f"error: {errors.one_line(error)}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
