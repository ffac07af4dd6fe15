"""Retargeting speed and quality on the nine shared Bandai Namco clips.

All clips are retargeted in one packed solve (`pipeline.Retargeter`). Loading the BVH files is not timed. The first
call compiles (its time minus the steady-state time is reported as compile time); the steady-state time is the median
over `--repeats` calls (also as CPU time of this process, which the machine's other load disturbs less) and covers
everything after loading: subject fit, contact detection, targets, the solve and
the quality reports. Prints a table of the quality report per clip and writes JSON.

  python -m benchmarks.retarget_bandai [--json=benchmarks/retarget_bandai.json] [--repeats=5] [--config.x=y]
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import time

import numpy as np
from absl import app, flags
from ml_collections import config_flags

import configs.retarget
from genmimic_jax.human.bvh import load_bvh
from genmimic_jax.retarget import pipeline, report

_SHARED = flags.DEFINE_string("shared_dir", str(pathlib.Path(__file__).resolve().parents[2] / "shared"),
                              "The shared folder holding motions/bandai_namco/*.bvh.")
_JSON = flags.DEFINE_string("json", "benchmarks/retarget_bandai.json", "Where to write the results.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls after the compiling one.")
_CONFIG = config_flags.DEFINE_config_file("config", configs.retarget.__file__, "Retargeting options.")


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    files = sorted((pathlib.Path(_SHARED.value) / "motions" / "bandai_namco").glob("*.bvh"))
    if not files:
        print(f"error: no .bvh files under {_SHARED.value}/motions/bandai_namco")
        return 1
    humans = [load_bvh(f) for f in files]
    frames = sum(h.num_frames for h in humans)
    retargeter = pipeline.Retargeter(_CONFIG.value)

    start = time.perf_counter()
    retargeter(humans)
    first = time.perf_counter() - start
    times, cpu_times = [], []
    for _ in range(_REPEATS.value):
        start, cpu_start = time.perf_counter(), time.process_time()
        results = retargeter(humans)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    steady = float(np.median(times))
    cpu = float(np.median(cpu_times))

    names = [f.stem for f in files]
    reports = {name: result.report for name, result in zip(names, results)}
    print(report.format_table(reports))
    print(report.REFERENCE)
    summary = {
        "frames": frames,
        "clips": len(files),
        "seconds_median": steady,
        "seconds_all": times,
        "frames_per_second": frames / steady,
        "cpu_seconds_median": cpu,
        "frames_per_cpu_second": frames / cpu,
        "compile_seconds": first - steady,
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "load_average": os.getloadavg(),
        "config": _CONFIG.value.to_dict(),
    }
    print(f"{frames} frames in {steady:.3f} s (median of {len(times)}): {frames / steady:.0f} frames/s "
          f"({frames / cpu:.0f} per CPU-second of this process); compile {first - steady:.1f} s; "
          f"load average {summary['load_average'][0]:.1f} on {os.cpu_count()} CPUs")
    path = pathlib.Path(_JSON.value)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"summary": summary, "clips": reports}, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    app.run(main)
