"""Evaluation of a policy over a motion set: per-clip and overall metrics, the noise suite, saved trajectories.

`evaluate(...)` rolls every clip out once cleanly (and once per corruption level of the noise suite, goal keypoints
corrupted, scored against the clean reference), in groups of clips of similar length whose rollouts fit a memory
budget (`max_robot_frames`), so that a dataset of thousands of clips evaluates in bounded memory; `write_rollouts`
saves a group's trajectories as it finishes and `write_report` the rest, into one output folder:

    report.json             policy, back end, per-clip and overall metrics, noise-suite results (each noise seed's,
                            and their spread over the seeds)
    report.txt              the same as a plain-text table
    rollouts/<clip>.npz     simulated qpos and keypoints, reference keypoints, fps, failure frame (clean run)
    plots/*.png             per-clip metrics, noise-suite curves
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from genmimic_jax import files
from genmimic_jax.errors import InputError
from genmimic_jax.envs.motion_lib import MotionLib, resampled_length
from genmimic_jax.envs.tracking import TrackingEnv, termination_config
from genmimic_jax.eval import feasibility, metrics, noise
from genmimic_jax.eval.rollout import Evaluator, Rollout
from genmimic_jax.retarget import report as retarget_report
from genmimic_jax.rl import env_factory
from genmimic_jax.rl.policy import SavedPolicy, check_observation
from genmimic_jax.viz import plots

# Robots x control frames rolled out at once: ~0.5 GB of trajectories and observations (a 2-core CPU rolls that out in
# about a minute and a half; a GPU wants larger groups).
DEFAULT_MAX_ROBOT_FRAMES = 131_072
# Overall figures of a noise level summed up over its noise seeds (`noise_over_seeds`).
SPREAD_KEYS = ("success_rate", "mpjpe_mm", "root_relative_mpjpe_mm")


@dataclasses.dataclass
class Report:
    """Everything an evaluation produced.

    Attributes:
      clip_names: one per clip, in the order given.
      per_clip: clip name -> metrics (see `metrics.clip_metrics`) plus 'failure' (what ended it, '' for none) and
        'reference_zmp_off_s' (`reference_zmp_off_s`) and 'reference_torque_over_s'
        (`feasibility.torque_over_limit_s`).
      overall: `metrics.summarize` of the clean run.
      noise: one entry per corruption level and noise seed: {'corruption', 'severity', 'seed', 'overall',
        'per_clip'}, level by level (`noise_over_seeds` gives each level's spread over its seeds).
      groups: the clean rollouts, group by group (empty when `evaluate` handed them to `on_group` instead).
      info: policy and settings, for the JSON.
    """

    clip_names: list[str]
    per_clip: dict[str, dict[str, Any]]
    overall: dict[str, float]
    noise: list[dict[str, Any]]
    groups: list[ClipGroup]
    info: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class ClipGroup:
    """The clean rollouts of some of the clips (robot i follows clip i of `clip_names`).

    Attributes:
      clip_names: the group's clips.
      rollout: the clean run.
      motion_lib: the group's reference clips at the control rate (what the rollout is scored against).
    """

    clip_names: list[str]
    rollout: Rollout
    motion_lib: MotionLib


def eval_env_config(env_config: dict | ml_collections.ConfigDict, num_clips: int) -> ml_collections.ConfigDict:
    """The training environment's config for evaluation: one robot per clip, the nominal robot, no pushes, and the
    default failure thresholds (`tracking.termination_config`), so that runs trained with other terminations are
    judged alike."""
    config = env_factory.stored_env_config("g1_tracking", env_config)
    config.termination = termination_config()
    config.num_envs = num_clips
    config.randomization.enabled = False
    config.push.enabled = False
    config.episode_length = 10**9  # a clip ends at its last frame, however long
    return config


def make_env(env_config: dict | ml_collections.ConfigDict, clips: Sequence) -> TrackingEnv:
    """The evaluation environment over `clips` (objects with qpos, fps and source) at the env's control rate."""
    config = eval_env_config(env_config, len(clips))
    lib = MotionLib.from_clips(list(clips), fps=1.0 / config.ctrl_dt, bin_seconds=config.motion.bin_seconds)
    return TrackingEnv(config, lib)


def corrupt_goals(lib: MotionLib, corruption: str, severity: float, seed: int,
                  clip_ids: Sequence[int] | None = None) -> MotionLib:
    """The library with every clip's goal keypoints corrupted (clip c uses seed + clip_ids[c], by default seed + c,
    so that a clip is corrupted alike in whichever group it is evaluated); the reference frames stay."""
    clip_ids = range(lib.num_clips) if clip_ids is None else clip_ids
    out = np.concatenate([noise.corrupt(corruption, lib.clip_goals(clip), lib.fps, severity, seed + int(clip_id))
                          for clip, clip_id in enumerate(clip_ids)])
    return lib.replace(goal_keypoints=jnp.asarray(out, jnp.float32))


def clip_groups(frames: Sequence[int], max_robot_frames: int) -> list[list[int]]:
    """Clip indices in evaluation groups: longest first, each group as many clips as keep its clip count times its
    longest clip within `max_robot_frames` (a clip longer than that alone), so rollouts of similar lengths share
    a group and little of it is padding."""
    order = sorted(range(len(frames)), key=lambda clip: (-frames[clip], clip))
    groups: list[list[int]] = []
    for clip in order:
        if groups and (len(groups[-1]) + 1) * frames[groups[-1][0]] <= max_robot_frames:
            groups[-1].append(clip)
        else:
            groups.append([clip])
    return groups


def score(rollout: Rollout, lib: MotionLib, clip_names: Sequence[str],
          success_threshold: float) -> dict[str, dict[str, Any]]:
    """Per-clip metrics of a rollout against the library's reference, over simulated frames 1..end (or failure)."""
    kinds = rollout.failure_kinds()
    out = {}
    for n, (name, last) in enumerate(zip(clip_names, rollout.last_frame())):
        frames, reference = slice(1, int(last) + 1), lib.clip_frames(n)
        clip = metrics.clip_metrics(rollout.keypoints[n, frames], reference.keypoints[frames], rollout.qpos[n, frames],
                                    reference.qpos[frames], lib.fps, failed=bool(rollout.failed_at[n] >= 0),
                                    success_threshold=success_threshold)
        out[name] = dict(clip, failure=kinds[n])
    return out


def reference_zmp_off_s(clip) -> float:
    """The longest stretch (s) in which a reference clip (qpos [T, 36], fps) asks the floor to push outside the G1's
    feet (the retarget report's `zmp off s`): there no policy can follow it exactly."""
    dynamic = retarget_report.trajectory_balance(clip.qpos, float(clip.fps))["dynamic_balance"]
    return dynamic["longest_off_balance_s"]


def evaluate(saved: SavedPolicy, clips: Sequence, clip_names: Sequence[str], backend: str = "mujoco",
             success_threshold: float = 0.2, noise_levels: Sequence[tuple[str, float]] = (),
             noise_seeds: Sequence[int] = (0,), threads: int = 2, max_robot_frames: int = DEFAULT_MAX_ROBOT_FRAMES,
             on_group: Callable[[ClipGroup], None] | None = None) -> Report:
    """Rolls the policy out on every clip (deterministic actions), cleanly and under each corruption level.

    Clips are rolled out in groups (`clip_groups`); each group compiles its own rollout, and a clip's result does
    not depend on the group it lands in (beyond the float rounding of a batched policy).

    Args:
      saved: the trained policy; its run config gives the environment.
      clips: reference clips (qpos [T, 36], fps, source), e.g. `retarget.io.RobotMotion`.
      clip_names: a name per clip for the report.
      backend: 'mujoco' or 'mjx'.
      success_threshold: metres, see `metrics.clip_metrics`.
      noise_levels: (corruption, severity) pairs of the noise suite to run (`noise.suite()`); empty: none.
      noise_seeds: seeds of the corruptions; every level runs once per seed (a generated video's artefacts are
        random, so one seed's success rate is a sample, not the policy's figure).
      threads: C MuJoCo back end threads.
      max_robot_frames: the most robots x control frames rolled out at once (memory: ~4 KB each).
      on_group: called with each group's clean rollouts as it finishes (e.g. `write_rollouts`), which are then
        dropped; without it the report keeps them.
    """
    if len(clips) != len(clip_names) or not clips:
        raise ValueError(f"need one name per clip and at least one clip, got {len(clips)} clips, "
                         f"{len(clip_names)} names")
    env_config = eval_env_config(saved.run_config["env"], 1)
    frames = [resampled_length(len(clip.qpos), float(clip.fps), 1.0 / env_config.ctrl_dt) for clip in clips]
    per_clip: dict[str, dict[str, Any]] = {}
    if noise_levels and not noise_seeds:
        raise ValueError("the noise suite needs at least one noise seed")
    noise_runs = [(corruption, severity, int(seed)) for corruption, severity in noise_levels for seed in noise_seeds]
    noisy: list[dict[str, dict[str, Any]]] = [{} for _ in noise_runs]
    kept: list[ClipGroup] = []
    for number, indices in enumerate(clip_groups(frames, max_robot_frames)):
        if number:
            # JAX's caches keep every earlier group's compiled rollout, environment and motion library alive
            # (measured: 2.4 -> 1.35 GB over 1,000 clips in 9 groups); a group's shapes never recur.
            jax.clear_caches()
        names = [clip_names[i] for i in indices]
        env = make_env(saved.run_config["env"], [clips[i] for i in indices])
        check_observation(saved.policy, env.observation_size, saved.run_dir)
        evaluator = Evaluator(env, saved.policy, backend, threads)
        lib = env.motion_lib
        group = ClipGroup(clip_names=names, rollout=evaluator(), motion_lib=lib)
        per_clip.update(score(group.rollout, lib, names, success_threshold))
        for i, name in zip(indices, names):
            per_clip[name]["reference_zmp_off_s"] = reference_zmp_off_s(clips[i])
            per_clip[name]["reference_torque_over_s"] = feasibility.torque_over_limit_s(clips[i].qpos,
                                                                                       float(clips[i].fps))
        for scored, (corruption, severity, seed) in zip(noisy, noise_runs):
            run = evaluator(corrupt_goals(lib, corruption, severity, seed, indices))
            scored.update(score(run, lib, names, success_threshold))
        if on_group is None:
            kept.append(group)
        else:
            on_group(group)
        evaluator.close()
    per_clip = {name: per_clip[name] for name in clip_names}
    results = []
    for scored, (corruption, severity, seed) in zip(noisy, noise_runs):
        scored = {name: scored[name] for name in clip_names}
        results.append({"corruption": corruption, "severity": severity, "seed": seed, "per_clip": scored,
                        "overall": metrics.summarize(list(scored.values()))})
    info = {"policy": {"run_dir": str(saved.run_dir), "kind": saved.kind, "obs": saved.policy.obs_key,
                       "step": saved.step},
            "backend": backend, "success_threshold_m": success_threshold, "control_rate_hz": 1.0 / env_config.ctrl_dt,
            "noise_seeds": [int(seed) for seed in noise_seeds],
            "scoring": "against the clean reference; frames 1..end of clip or failure"}
    return Report(clip_names=list(clip_names), per_clip=per_clip, overall=metrics.summarize(list(per_clip.values())),
                  noise=results, groups=kept, info=info)


def _json_ready(value):
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def safe_name(name: str) -> str:
    """A file-name-safe relative path for a clip name (names carry no file suffix, so a dot in one is kept:
    `walk_1.5x` and `walk_1.0x` stay apart): each folder of a nested name kept (`CMU/01/01_01_poses`, as
    `load_robot_motions` names a dataset's clips, so equal file names in two folders stay apart), anything but
    letters, digits, `_`, `.` and `-` replaced, and no part that climbs out."""
    parts = [part for part in pathlib.PurePosixPath(name.replace("\\", "/")).parts if part not in ("/", ".", "..")]
    cleaned = [re.sub(r"[^A-Za-z0-9_.-]+", "_", part).lstrip(".") for part in parts]
    return "/".join(part for part in cleaned if part) or "clip"


def noise_over_seeds(noise_runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per corruption level of `Report.noise`, over its noise seeds: {'corruption', 'severity', 'seeds',
    'clips_followed' (successes per seed), and for each of `SPREAD_KEYS` {'mean', 'std', 'min', 'max'} over the
    seeds}, levels in the order of the runs."""
    levels: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for entry in noise_runs:
        levels.setdefault((entry["corruption"], entry["severity"]), []).append(entry)
    out = []
    for (corruption, severity), runs in levels.items():
        entry = {"corruption": corruption, "severity": severity, "seeds": [run["seed"] for run in runs],
                 "clips_followed": [int(sum(clip["success"] for clip in run["per_clip"].values())) for run in runs]}
        for key in SPREAD_KEYS:
            values = np.array([run["overall"][key] for run in runs], np.float64)
            entry[key] = {"mean": float(np.mean(values)), "std": float(np.std(values)),
                          "min": float(np.min(values)), "max": float(np.max(values))}
        out.append(entry)
    return out


def format_report(report: Report) -> str:
    """The per-clip table, then one line per noise level (with several noise seeds: the mean, the spread and each
    seed's clips followed)."""
    lines = [metrics.format_table(report.per_clip, report.overall)]
    if not report.noise:
        return "\n".join(lines)
    lines += ["", "noise suite (goal keypoints corrupted; scored against the clean reference):"]
    levels = noise_over_seeds(report.noise)
    if all(len(level["seeds"]) == 1 for level in levels):
        lines.append(f"{'corruption':<14}{'severity':>9}{'success %':>11}{'MPJPE mm':>10}{'root-rel mm':>12}")
        for level in levels:
            lines.append(f"{level['corruption']:<14}{level['severity']:>9.3g}{level['success_rate']['mean']:>11.1f}"
                         f"{level['mpjpe_mm']['mean']:>10.1f}{level['root_relative_mpjpe_mm']['mean']:>12.1f}")
        return "\n".join(lines)
    lines.append(f"over noise seeds {', '.join(map(str, levels[0]['seeds']))}: mean +- std (least-largest) of the "
                 f"success rate, clips followed per seed, mean MPJPE")
    lines.append(f"{'corruption':<14}{'severity':>9}  {'success %':<24}{'clips followed':<18}{'MPJPE mm':>9}")
    for level in levels:
        rate = level["success_rate"]
        spread = f"{rate['mean']:.1f} +- {rate['std']:.1f} ({rate['min']:.0f}-{rate['max']:.0f})"
        lines.append(f"{level['corruption']:<14}{level['severity']:>9.3g}  {spread:<24}"
                     f"{'/'.join(map(str, level['clips_followed'])):<18}{level['mpjpe_mm']['mean']:>9.1f}")
    return "\n".join(lines)


def report_paths(output_dir: str | os.PathLike, clip_names: list[str]) -> dict[str, tuple[pathlib.Path, str]]:
    """The files `write_report` writes (name -> (path, kind)), plots aside; check them before evaluating."""
    output_dir = pathlib.Path(output_dir)
    paths = {"json": (output_dir / "report.json", "json"), "text": (output_dir / "report.txt", "text")}
    owners: dict[str, str] = {}
    for name in clip_names:
        file = safe_name(name)
        if owners.setdefault(file, name) != name:
            raise InputError(f"clips {owners[file]!r} and {name!r} would share the rollout file rollouts/{file}.npz; "
                             f"rename one")
        paths[f"rollout:{name}"] = (output_dir / "rollouts" / f"{file}.npz", "rollout")
    return paths


def write_report(report: Report, output_dir: str | os.PathLike, overwrite: bool = False) -> dict[str, pathlib.Path]:
    """Writes report.json, report.txt, plots/ and the rollouts the report kept (each with `files.write_atomic`);
    returns the paths."""
    output_dir = pathlib.Path(output_dir)
    paths = {"json": output_dir / "report.json", "text": output_dir / "report.txt"}
    levels = noise_over_seeds(report.noise)
    report_json = json.dumps(_json_ready({
        "info": report.info, "clips": report.clip_names, "overall": report.overall, "per_clip": report.per_clip,
        "noise_suite": report.noise, "noise_suite_over_seeds": levels}), indent=2).encode("utf-8")
    files.write_atomic(paths["json"], lambda file: file.write(report_json), "json", overwrite=overwrite)
    report_text = (format_report(report) + "\n").encode("utf-8")
    files.write_atomic(paths["text"], lambda file: file.write(report_text), "text", overwrite=overwrite)
    for group in report.groups:
        paths.update(write_rollouts(group, output_dir, overwrite))
    paths["clip_plot"] = plots.plot_clip_metrics(report.per_clip, output_dir / "plots" / "clip_metrics.png")
    if report.noise:
        paths["noise_plot"] = plots.plot_noise_suite(report.overall, levels, output_dir / "plots" / "noise_suite.png")
    return paths


def write_rollouts(group: ClipGroup, output_dir: str | os.PathLike, overwrite: bool = False) -> dict[str, pathlib.Path]:
    """Writes rollouts/<clip>.npz of each clip of `group` (simulated qpos and keypoints up to the clip's end or
    failure, reference keypoints, fps, failure frame); returns 'rollout:<clip>' -> path."""
    output_dir, lib, rollout = pathlib.Path(output_dir), group.motion_lib, group.rollout
    paths = {}
    for n, name in enumerate(group.clip_names):
        end = int(rollout.last_frame()[n]) + 1
        path = output_dir / "rollouts" / f"{safe_name(name)}.npz"
        arrays = dict(qpos=rollout.qpos[n, :end].astype(np.float32),
                      keypoints=rollout.keypoints[n, :end].astype(np.float32),
                      reference_keypoints=lib.clip_frames(n).keypoints[:end].astype(np.float32),
                      fps=np.float64(lib.fps), failed_at=np.int64(rollout.failed_at[n]), source=np.array(name))
        files.write_atomic(path, lambda file, arrays=arrays: np.savez(file, **arrays), "rollout", overwrite=overwrite)
        paths[f"rollout:{name}"] = path
    return paths


def noise_levels_from_config(enabled: bool, corruptions: str) -> list[tuple[str, float]]:
    """The (corruption, severity) pairs a config asks for: none, the whole suite, or the named corruptions."""
    if not enabled:
        return []
    names = [c.strip() for c in corruptions.split(",") if c.strip()] or list(noise.CORRUPTIONS)
    unknown = [c for c in names if c not in noise.CORRUPTIONS]
    if unknown:
        raise ValueError(f"unknown corruptions {unknown}; known: {sorted(noise.CORRUPTIONS)}")
    return noise.suite({name: noise.SEVERITIES[name] for name in names})


def noise_seeds_from_config(first_seed: int, count: int) -> list[int]:
    """The noise seeds a config asks for: `count` consecutive seeds from `first_seed`."""
    if count < 1:
        raise ValueError(f"noise_seeds: the noise suite runs with at least one seed, got {count}")
    return list(range(first_seed, first_seed + count))
