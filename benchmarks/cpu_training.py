"""The CPU recipe's training command, timed from start to exit: one process against local processes, one after the
other in one run of this script (each uses every core).

    python -m benchmarks.cpu_training --motion_dir=retargeted/ --minutes=4 --processes=1,0

Each arm runs `python -m experiments.train --config=configs/train.py:g1_cpu --config.run.local_processes=<p>` for
`--minutes` of training in a fresh run directory and reports the wall clock of the command, the env steps it
trained, the steps/s of its chunks after the first (compile excluded) and end to end. `1` is the default (one
process), `0` one process per core.
"""

import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from configs import train as train_config

_MOTION_DIR = flags.DEFINE_string("motion_dir", "", "retargeted clips (empty: the built-in clip)")
_MINUTES = flags.DEFINE_float("minutes", 4.0, "training budget of each arm")
_PROCESSES = flags.DEFINE_list("processes", ["1", "0"], "run.local_processes of each arm")
_NUM_ENVS = flags.DEFINE_integer("num_envs", 256, "env.num_envs")

_UPDATE = re.compile(r"^update (\d+)/\d+ .*env_steps_per_s=([\d.]+)", re.MULTILINE)


def _arm(processes: str, runs_dir: pathlib.Path) -> dict[str, float]:
    command = [sys.executable, "-m", "experiments.train", "--config=configs/train.py:g1_cpu",
               f"--config.runs_dir={runs_dir}", f"--config.name=p{processes}",
               f"--config.motion_dir={_MOTION_DIR.value}", f"--config.run.max_minutes={_MINUTES.value}",
               f"--config.env.num_envs={_NUM_ENVS.value}", f"--config.run.local_processes={processes}"]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if result.returncode:
        raise SystemExit(f"arm local_processes={processes} failed:\n{result.stderr[-3000:]}")
    updates = [(int(step), float(rate)) for step, rate in _UPDATE.findall(result.stdout)]
    layout = re.search(r"envs over .*", result.stdout).group(0)
    steps = updates[-1][0] * _NUM_ENVS.value * train_config.get_config("g1_cpu").ppo.rollout_length
    return {"layout": layout, "wall_s": wall, "updates": updates[-1][0], "env_steps": steps,
            "chunk_steps_per_s": statistics.median(rate for _, rate in updates[1:]), "end_to_end": steps / wall}


def main(argv):
    del argv
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        for processes in _PROCESSES.value:
            rows[processes] = _arm(processes, pathlib.Path(folder))
            row = rows[processes]
            print(f"local_processes={processes:>2} ({row['layout']}): {row['wall_s']:.0f} s wall, "
                  f"{row['updates']} updates, {row['env_steps']:,} env steps; "
                  f"{row['chunk_steps_per_s']:,.0f} env steps/s per chunk (median), {row['end_to_end']:,.0f} "
                  "end to end", flush=True)
    first, *others = _PROCESSES.value
    for other in others:
        per_chunk = rows[other]["chunk_steps_per_s"] / rows[first]["chunk_steps_per_s"]
        print(f"local_processes={other} / {first}: {per_chunk:.2f}x per chunk, "
              f"{rows[other]['end_to_end'] / rows[first]['end_to_end']:.2f}x end to end")


if __name__ == "__main__":
    app.run(main)
