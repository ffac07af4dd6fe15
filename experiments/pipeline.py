"""The main job: one human motion in, a checked simulated G1 trajectory and a deployable policy file out.

    python -m experiments.pipeline                              # the built-in motion
    python -m experiments.pipeline --config.input=walk.bvh      # your motion (any format experiments.ingest reads)
    python -m experiments.pipeline --config.checkpoint=runs/student   # your trained policy instead of a quick one

Stages, all written into --config.output_dir (default outputs/pipeline/):
  1. ingest     the motion as a canonical human motion            human/<name>.npz
  2. retarget   to the G1, with a quality report                   retargeted/<name>.npz, retarget_report.json
  3. policy     --config.checkpoint, else one trained here before   runs/teacher, runs/student
                (teacher PPO, then DAgger; small, CPU-sized)
  4. evaluate   track the motion in simulation, metrics + noise     evaluation/ (report, rollouts, plots)
  5. export     the student to ONNX, checked against JAX             policy.onnx
  6. sim2sim    the ONNX policy in plain C MuJoCo vs the rollout     sim2sim.json, evaluation/plots/sim2sim.png
  7. video      the simulated G1 (reference ghost, goal keypoints)   video.mp4
and summary.json with the figures printed at the end.
"""

from __future__ import annotations

import pathlib
import shutil
import time

from genmimic_jax.viz import gl

gl.select_gl_backend()  # before anything imports mujoco (the configs below do): it reads MUJOCO_GL once

import configs.pipeline  # noqa: E402
from experiments import cli  # noqa: E402
from genmimic_jax import files  # noqa: E402
from genmimic_jax.errors import InputError  # noqa: E402

_CONFIG = cli.define_config(configs.pipeline.__file__, "Pipeline options.")
_OVERWRITE = cli.define_overwrite()


class PipelineError(InputError):
    """A stage cannot go on; the message says which and why."""


class Stages:
    """Prints numbered stage headers with the time spent so far."""

    def __init__(self, total: int):
        self.total, self.count, self.start = total, 0, time.perf_counter()
        self.seconds: dict[str, float] = {}
        self._last = self.start

    def begin(self, name: str, what: str) -> None:
        self._close()
        self.count += 1
        self._name = name
        print(f"\n[{self.count}/{self.total}] {name}: {what}  (t = {self.elapsed():.0f} s)", flush=True)

    def _close(self) -> None:
        now = time.perf_counter()
        if self.count:
            self.seconds[self._name] = round(now - self._last, 1)
        self._last = now

    def finish(self) -> None:
        self._close()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def check_outputs(config, output_dir: pathlib.Path, name: str, source: pathlib.Path, overwrite: bool) -> None:
    """Refuses, before any stage runs, outputs that would replace the input or a file of another kind, and noise-suite
    options that evaluation would refuse after the training."""
    from experiments.ingest import check_config
    from genmimic_jax.eval import evaluate

    check_config(config.ingest)
    evaluate.noise_levels_from_config(config.evaluate.noise_suite, config.evaluate.noise_corruptions)
    evaluate.noise_seeds_from_config(config.evaluate.noise_seed, config.evaluate.noise_seeds)
    inputs = [source] + ([pathlib.Path(config.checkpoint) / "config.json"] if config.checkpoint else [])
    outputs = [(output_dir / "human" / f"{name}.npz", "human_motion"),
               (output_dir / "retargeted" / f"{name}.npz", "robot_motion"),
               (output_dir / "retarget_report.json", "json"), (output_dir / "policy.onnx", "onnx"),
               (output_dir / "sim2sim.json", "json"), (output_dir / "summary.json", "json"),
               *evaluate.report_paths(output_dir / "evaluation", [name]).values()]
    for path, kind in outputs:
        files.check_output(path, kind, inputs=inputs, overwrite=overwrite)


def _input_motion(config, output_dir: pathlib.Path) -> pathlib.Path:
    """The motion file to start from: the user's, or the built-in motion written as a canonical .npz."""
    from genmimic_jax.eval import builtin_motion
    from genmimic_jax.human.motion import save_npz

    if config.input:
        path = pathlib.Path(config.input)
        if not path.is_file():
            raise PipelineError(f"{path}: no such motion file")
        return path
    path = output_dir / "input" / "builtin_motion.npz"
    save_npz(builtin_motion.human_motion(config.builtin_seconds), path)
    print(f"no --config.input given: using the built-in motion ({builtin_motion.SOURCE}: a {config.builtin_seconds:g} s "
          f"clip of a person waving, twisting and dipping, made in code), written to {path}")
    return path


def _policy_dirs(config, output_dir: pathlib.Path) -> tuple[pathlib.Path, bool]:
    """The run directory of the policy to use, and whether it has to be trained here first."""
    from genmimic_jax.rl.policy import PolicyLoadError, load_policy

    if config.checkpoint:
        print(f"using the given policy {config.checkpoint}")
        return pathlib.Path(config.checkpoint), False
    student_dir = output_dir / "runs" / config.student.name
    if config.retrain and (output_dir / "runs").exists():
        print(f"--config.retrain: removing the earlier runs in {output_dir / 'runs'}")
        shutil.rmtree(output_dir / "runs")
    try:
        previous = load_policy(student_dir)
    except PolicyLoadError:
        return student_dir, True
    print(f"reusing the student trained by an earlier run of this pipeline: {student_dir} (step {previous.step}); "
          "pass --config.retrain=True to train again")
    return student_dir, False


def _train(config, motion_dir: pathlib.Path, output_dir: pathlib.Path, motion, name: str) -> pathlib.Path:
    """Teacher PPO, then DAgger from the teacher checkpoint that tracks `motion` best (what experiments.train and
    experiments.distill run); returns the student's run."""
    from genmimic_jax.rl import launch

    runs = output_dir / "runs"
    teacher, student = config.teacher, config.student
    teacher.runs_dir, teacher.motion_dir = str(runs), str(motion_dir)
    student.runs_dir, student.teacher_dir = str(runs), str(runs / teacher.name)
    teacher.run.max_minutes = 2.0 * config.train_minutes / 3.0
    student.run.max_minutes = config.train_minutes / 3.0
    print(f"no trained policy given (--config.checkpoint): training one first with the CPU recipe for "
          f"{config.train_minutes:g} minutes (--config.train_minutes). Teacher: PPO, {teacher.env.num_envs} envs, "
          f"{teacher.run.max_minutes:.1f} min; then student: DAgger, {student.run.max_minutes:.1f} min. Each starts "
          "with about a minute of JIT compilation; a real clip wants more (a walk: --config.train_minutes=30).", flush=True)
    launch.train(teacher)
    student.teacher_step = _best_teacher_step(runs / teacher.name, motion, name, config.evaluate)
    return launch.distill(student)


def _best_teacher_step(teacher_dir: pathlib.Path, motion, name: str, ev) -> int:
    """The teacher checkpoint that tracks `motion` best (success, then MPJPE; clean, C MuJoCo; the latest on a tie).
    A teacher run can drift off its best tracking (one main job on the built-in clip: 100% at 20 mm after 100
    updates, 0% at 110 mm after 160; benchmarks/RESULTS.md), so where the minutes happen to end must not decide."""
    from genmimic_jax.eval import evaluate, metrics
    from genmimic_jax.eval.rollout import Evaluator
    from genmimic_jax.rl.checkpointing import Checkpointer
    from genmimic_jax.rl.policy import load_policy

    checkpoints = Checkpointer(teacher_dir / "checkpoints", read_only=True)
    steps = checkpoints.all_steps()
    checkpoints.close()
    saved = {step: load_policy(teacher_dir, "teacher", step) for step in steps}
    env = evaluate.make_env(saved[steps[-1]].run_config["env"], [motion])
    evaluator = Evaluator(env, saved[steps[-1]].policy, ev.backend, ev.threads)  # compiled once for every step
    scores = {}
    for step in steps:
        scored = evaluate.score(evaluator(policy=saved[step].policy), env.motion_lib, [name], ev.success_threshold)
        overall = metrics.summarize(list(scored.values()))
        scores[step] = (overall["success_rate"], -overall["mpjpe_mm"])
        print(f"teacher step {step}: success {overall['success_rate']:.0f}%, MPJPE {overall['mpjpe_mm']:.1f} mm")
    evaluator.close()
    best = max(scores, key=lambda step: (scores[step], step))
    print(f"distilling the teacher of step {best}")
    return best


def run(config, overwrite: bool = False) -> dict:
    """Runs every stage; returns the summary (also written to summary.json)."""
    from genmimic_jax.eval import evaluate, metrics
    from genmimic_jax.rl.policy import load_policy
    from genmimic_jax.export import onnx_export, sim2sim
    from genmimic_jax.retarget import io as robot_io
    from genmimic_jax.retarget import pipeline as retarget_pipeline
    from genmimic_jax.retarget import report as retarget_report
    from genmimic_jax.human.io import load_motion
    from genmimic_jax.human.motion import resample, save_npz, trim
    from genmimic_jax.viz import plots, render

    output_dir = pathlib.Path(config.output_dir)
    files.make_folder(output_dir)
    stages = Stages(7)
    summary: dict = {"output_dir": str(output_dir)}

    stages.begin("ingest", "the human motion as a canonical SMPL-24 keypoint motion")
    source = _input_motion(config, output_dir)
    name = evaluate.safe_name(source.stem)
    check_outputs(config, output_dir, name, source, overwrite)
    human_path = output_dir / "human" / f"{name}.npz"
    options = config.ingest
    human = load_motion(source, up_axis=options.up_axis, unit=options.unit, on_floor=options.on_floor,
                        model_dir=options.model_dir or None)
    if options.start_s > 0 or options.end_s >= 0:
        stop = int(round(options.end_s * human.fps)) + 1 if options.end_s >= 0 else None
        human = trim(human, int(round(options.start_s * human.fps)), stop)
    if options.fps > 0 and options.fps != human.fps:
        human = resample(human, options.fps)
    save_npz(human, human_path, inputs=[source], overwrite=overwrite)
    height = f", subject height {human.height:.2f} m" if human.height else ""
    print(f"{source}: {human.num_frames} frames at {human.fps:g} fps ({human.duration:.2f} s){height} -> {human_path}")
    summary["input"] = {"source": str(source), "frames": human.num_frames, "fps": human.fps}

    stages.begin("retarget", "to the G1 (whole-trajectory optimisation in JAX)")
    result = retarget_pipeline.Retargeter(config.retarget)([human])[0]
    motion_dir = output_dir / "retargeted"
    robot_path = motion_dir / f"{name}.npz"
    robot_io.save_robot_motion(result.motion, robot_path, result.report, inputs=[source], overwrite=overwrite)
    files.write_json(output_dir / "retarget_report.json", result.report, overwrite=overwrite)
    print(retarget_report.format_table({name: result.report}))
    print(f"-> {robot_path}")

    stages.begin("policy", "the tracking policy")
    run_dir, needs_training = _policy_dirs(config, output_dir)
    if needs_training:
        run_dir = _train(config, motion_dir, output_dir, result.motion, name)
    saved = load_policy(run_dir)
    policy = saved.policy
    print(f"policy: {saved.kind} of {saved.run_dir}, step {saved.step}, reads the '{policy.obs_key}' observation "
          f"[{policy.obs_size}]")
    summary["policy"] = {"run_dir": str(saved.run_dir), "kind": saved.kind, "step": saved.step,
                         "trained_here": needs_training}

    ev = config.evaluate
    stages.begin("evaluate", f"track the motion in simulation ({ev.backend} back end), metrics and the noise suite")
    levels = evaluate.noise_levels_from_config(ev.noise_suite, ev.noise_corruptions)
    seeds = evaluate.noise_seeds_from_config(ev.noise_seed, ev.noise_seeds)
    report = evaluate.evaluate(saved, [result.motion], [name], ev.backend, ev.success_threshold, levels, seeds,
                               ev.threads)
    eval_dir = output_dir / "evaluation"
    paths = evaluate.write_report(report, eval_dir, overwrite)
    rollout, lib = report.groups[0].rollout, report.groups[0].motion_lib  # the one clip
    print(evaluate.format_report(report))
    print(f"-> {paths['json']}, {paths[f'rollout:{name}']} (simulated qpos)")
    summary["evaluation"] = {"overall": report.overall, "per_clip": report.per_clip[name],
                             "noise_suite": [{"corruption": e["corruption"], "severity": e["severity"],
                                              "seed": e["seed"], "success_rate": e["overall"]["success_rate"],
                                              "mpjpe_mm": e["overall"]["mpjpe_mm"]} for e in report.noise]}

    stages.begin("export", "the policy to ONNX (normalisation folded in, DDS motor order)")
    onnx_path = output_dir / "policy.onnx"
    _, parity = onnx_export.export_policy(saved, onnx_path, real_observations=rollout.obs[0],
                                          overwrite=overwrite)
    print(f"-> {onnx_path}: onnxruntime vs JAX max |action difference| {parity:.2e} on "
          f"{256 + rollout.obs.shape[1]} observations (random and from the rollout)")
    summary["export"] = {"path": str(onnx_path), "parity_max_abs_error": parity}

    stages.begin("sim2sim", "the ONNX policy in plain C MuJoCo (numpy + onnxruntime, no JAX) on the same motion")
    clip = lib.clip_frames(0)
    reference = {key: getattr(clip, key) for key in ("qpos", "qvel", "keypoints")}
    goals = lib.clip_goals(0)
    if policy.obs_key != "actor":
        print(f"skipped: the {saved.kind} policy reads the simulator-only '{policy.obs_key}' observation")
        summary["sim2sim"] = None
    else:
        c_run = sim2sim.run(onnx_path, reference["qpos"], reference["qvel"], goals,
                            int(saved.run_config["env"]["substeps"]))
        other_name = "JAX policy, " + ev.backend
        other = rollout
        if config.sim2sim_reference == "mjx" and ev.backend != "mjx":
            from genmimic_jax.eval.rollout import Evaluator

            other_name = "JAX policy, mjx"
            other = Evaluator(evaluate.make_env(saved.run_config["env"], [result.motion]), policy, "mjx")()
        comparison = sim2sim.compare(reference["keypoints"], c_run.keypoints, other.keypoints[0, :len(goals)], lib.fps)
        plots.plot_divergence(comparison["seconds"], {"ONNX in C MuJoCo vs reference": comparison["c_error"],
                                                      f"{other_name} vs reference": comparison["other_error"],
                                                      "ONNX run vs the other run": comparison["divergence"]},
                              eval_dir / "plots" / "sim2sim.png")
        summary["sim2sim"] = dict(comparison["summary"], compared_with=other_name,
                                  c_mpjpe_mm=metrics.mpjpe_mm(c_run.keypoints[1:], reference["keypoints"][1:]))
        files.write_json(output_dir / "sim2sim.json", summary["sim2sim"], overwrite=overwrite)
        s = summary["sim2sim"]
        print(f"ONNX in C MuJoCo: mean keypoint error {s['c_mean_error_mm']:.1f} mm; {other_name}: "
              f"{s['other_mean_error_mm']:.1f} mm; distance between the two runs: mean {s['mean_divergence_mm']:.2f} "
              f"mm, final {s['final_divergence_mm']:.2f} mm -> {output_dir / 'sim2sim.json'}")

    stages.begin("video", "the simulated G1, the reference as a translucent ghost, the goal keypoints in green")
    video = output_dir / f"video.{config.video_format}"
    end = int(rollout.last_frame()[0]) + 1
    failed_at = int(rollout.failed_at[0])
    try:
        render.render(rollout.qpos[0, :end], lib.fps, video, goals, reference_qpos=reference["qpos"],
                      failed_at=failed_at if failed_at >= 0 else None, overwrite=overwrite)
        print(f"-> {video}")
        summary["video"] = str(video)
    except render.RenderUnavailable as error:
        print(f"video skipped: {error}")
        summary["video"] = None

    stages.finish()
    summary["stage_seconds"] = stages.seconds
    summary["total_seconds"] = round(stages.elapsed(), 1)
    files.write_json(output_dir / "summary.json", summary, overwrite=overwrite)
    overall = report.overall
    print(f"\ndone in {summary['total_seconds']:.0f} s: success {overall['success_rate']:.0f}%, global MPJPE "
          f"{overall['mpjpe_mm']:.1f} mm, root-relative {overall['root_relative_mpjpe_mm']:.1f} mm; "
          f"policy {onnx_path}; everything in {output_dir}/ (summary.json)")
    return summary


def main(argv: list[str]) -> int:
    cli.no_arguments(argv)
    run(_CONFIG.value, _OVERWRITE.value)
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
