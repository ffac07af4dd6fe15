"""End-to-end retargeting of a dataset-sized folder: the CLI's wall clock, frames/s, XLA compilations and peak memory.

Builds a folder of clips by cutting the nine shared Bandai Namco BVH clips into random windows of 2-8 s (in a
temporary folder outside the repository; one sub-folder per source clip, like AMASS's subject folders, or flat), then
runs `python -m experiments.retarget --input=<folder> --output=<out>` as a fresh process per checkout and times it
end to end: start-up, imports, compilation, reading, solving and writing. Compilations are counted from JAX's compile
log (`JAX_LOG_COMPILES=1`); peak memory is the child's maximum resident set size. Several checkouts (e.g. an older
commit in a `git worktree`) run on the same folder one after another, so their ratios come from one run.

  python -m benchmarks.retarget_dataset [--clips=1000] [--layout=nested|flat] [--checkouts=.,/tmp/old]
      [--json=benchmarks/retarget_dataset.json] [--dataset_dir=<folder>]
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

from genmimic_jax.human import bvh

_REPO = pathlib.Path(__file__).resolve().parents[1]
_SHARED = flags.DEFINE_string("shared_dir", str(_REPO.parent / "shared"), "The shared folder (motions/bandai_namco).")
_CLIPS = flags.DEFINE_integer("clips", 1000, "Number of windows to cut.")
_MIN_SECONDS = flags.DEFINE_float("min_seconds", 2.0, "Shortest window.")
_MAX_SECONDS = flags.DEFINE_float("max_seconds", 8.0, "Longest window.")
_SEED = flags.DEFINE_integer("seed", 0, "Window sampling seed.")
_LAYOUT = flags.DEFINE_enum("layout", "nested", ["nested", "flat"], "One folder per source clip, or all in one.")
_DATASET_DIR = flags.DEFINE_string("dataset_dir", None, "Where to build the clips (default: a new temp folder, "
                                   "removed afterwards); reused when it already holds .bvh files.")
_CHECKOUTS = flags.DEFINE_list("checkouts", [str(_REPO)], "Repository checkouts whose CLI to time, in order.")
_CLI_FLAGS = flags.DEFINE_list("cli_flags", [], "Extra flags for the CLI (e.g. --config.batch_frames=4096).")
_JSON = flags.DEFINE_string("json", "benchmarks/retarget_dataset.json", "Where to write the results.")


def cut_windows(shared_dir: pathlib.Path, folder: pathlib.Path, clips: int, min_seconds: float, max_seconds: float,
                seed: int, nested: bool) -> int:
    """Writes `clips` random windows of the shared BVH clips as .bvh files; returns the total number of frames.

    Source clips shorter than `min_seconds` are not used; a window's source is drawn in proportion to its length.
    """
    sources = [bvh.read_bvh(f) for f in sorted((shared_dir / "motions" / "bandai_namco").glob("*.bvh"))]
    sources = [s for s in sources if s.num_frames >= min_seconds * s.fps]
    if not sources:
        raise SystemExit(f"no .bvh clips of at least {min_seconds} s under {shared_dir}/motions/bandai_namco")
    rng = np.random.default_rng(seed)
    weights = np.array([s.num_frames for s in sources], float)
    total = 0
    for index in range(clips):
        source = sources[rng.choice(len(sources), p=weights / weights.sum())]
        length = int(rng.uniform(min_seconds, min(max_seconds, source.num_frames / source.fps)) * source.fps)
        start = int(rng.integers(0, source.num_frames - length + 1))
        stem = pathlib.Path(source.source).stem
        out = folder / stem if nested else folder
        out.mkdir(parents=True, exist_ok=True)
        window = dataclasses.replace(source, motion=source.motion[start:start + length])
        bvh.write_bvh(window, out / f"{stem}_{index:05d}.bvh")
        total += length
    return total


def time_cli(checkout: pathlib.Path, dataset: pathlib.Path, output: pathlib.Path, extra: list[str]) -> dict:
    """Runs the retarget CLI of `checkout` once on `dataset`; wall clock, compilations and peak RSS of the child."""
    env = dict(os.environ, JAX_LOG_COMPILES="1", PYTHONPATH=str(checkout))
    env.pop("GENMIMIC_JAX_CACHE", None)  # a cold start: no persistent compilation cache
    command = [sys.executable, "-m", "experiments.retarget", f"--input={dataset}", f"--output={output}", *extra]
    load_before = os.getloadavg()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, cwd=checkout, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    returncode = child.returncode = os.waitstatus_to_exitcode(status)
    compiles = sum("Finished XLA compilation" in line for line in stderr.splitlines())
    errors = [line for line in stderr.splitlines() if line.startswith("error")]
    if returncode != 0:
        print(stderr[-3000:], file=sys.stderr)
    return {
        "checkout": str(checkout),
        "returncode": returncode,
        "wall_seconds": wall,
        "xla_compilations": compiles,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "errors": errors[:10],
        "stdout_tail": stdout.splitlines()[-3:],
        "progress_tail": [line for line in stderr.splitlines() if "clips (" in line][-3:],
    }


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    temp = None
    if _DATASET_DIR.value:
        dataset = pathlib.Path(_DATASET_DIR.value)
    else:
        temp = pathlib.Path(tempfile.mkdtemp(prefix="retarget_dataset_"))
        dataset = temp / "clips"
    try:
        manifest = dataset.parent / f"{dataset.name}.frames.json"
        if not manifest.is_file():
            frames = cut_windows(pathlib.Path(_SHARED.value), dataset, _CLIPS.value, _MIN_SECONDS.value,
                                 _MAX_SECONDS.value, _SEED.value, _LAYOUT.value == "nested")
            manifest.write_text(json.dumps({"frames": frames, "clips": _CLIPS.value}))
        info = json.loads(manifest.read_text())
        print(f"{info['clips']} clips, {info['frames']} frames in {dataset}")
        runs = []
        for index, checkout in enumerate(_CHECKOUTS.value):
            output = dataset.parent / f"out_{index}"
            shutil.rmtree(output, ignore_errors=True)
            run = time_cli(pathlib.Path(checkout).resolve(), dataset, output, _CLI_FLAGS.value)
            run["frames_per_second"] = info["frames"] / run["wall_seconds"]
            run["frames_per_cpu_second"] = info["frames"] / run["cpu_seconds"]
            runs.append(run)
            print(f"{checkout}: rc {run['returncode']}, {run['wall_seconds']:.1f} s wall, "
                  f"{run['frames_per_second']:.0f} frames/s end to end ({run['frames_per_cpu_second']:.0f} per "
                  f"CPU-second), {run['xla_compilations']} XLA compilations, "
                  f"peak RSS {run['peak_rss_mib']:.0f} MiB, load average "
                  f"{run['load_average_before'][0]:.1f} -> {run['load_average_after'][0]:.1f}")
        for run in runs[1:]:
            print(f"{runs[0]['checkout']} vs {run['checkout']}: {run['wall_seconds'] / runs[0]['wall_seconds']:.2f}x")
        summary = {
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "machine": f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
            "clips": info["clips"], "frames": info["frames"], "layout": _LAYOUT.value, "cli_flags": _CLI_FLAGS.value,
            "runs": runs,
        }
        path = pathlib.Path(_JSON.value)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=2))
        print(f"wrote {path}")
        return 0 if all(r["returncode"] == 0 for r in runs) else 1
    finally:
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    app.run(main)
