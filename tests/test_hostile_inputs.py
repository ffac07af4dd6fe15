"""Hostile and careless input through the entry points: every refusal is one line naming the file (or flag) and the
problem, with the documented exit status, and no input changes.

The entry points run in-process (their `run` functions under `experiments.cli.exit_status`, as `main` runs them), so
the corpus costs seconds, not a JAX import per case.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pathlib
import pickle
import signal
import stat
import subprocess
import sys
import zipfile

import ml_collections
import numpy as np
import pytest

import configs.evaluate
import configs.export
import configs.ingest
import configs.retarget
import configs.train
from experiments import cli
from experiments import evaluate as evaluate_cli
from experiments import export as export_cli
from experiments import ingest as ingest_cli
from experiments import retarget as retarget_cli
from genmimic_jax import files, limits
from genmimic_jax.human import bvh
from genmimic_jax.human import motion as human_motion
from genmimic_jax.human.skeleton import SMPL_JOINT_NAMES
from genmimic_jax.robot.g1 import constants
from human_test_data import make_rig_bvh, walking_positions

REPO = pathlib.Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------------- helpers


def snapshot(*roots: pathlib.Path) -> dict[str, str]:
    """sha256 of every file under `roots` (files or folders)."""
    paths = [p for root in roots for p in ([root] if root.is_file() else sorted(root.rglob("*"))) if p.is_file()]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


@contextlib.contextmanager
def deadline(seconds: float):
    """Fails (instead of hanging) when the block runs longer than `seconds`."""
    def expire(*_):
        raise TimeoutError(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def refused(capsys, body, status: int, *needles: str) -> str:
    """Runs `body` under the exit convention; asserts the status, one `error:` line holding every needle, no
    traceback. Returns the line."""
    with deadline(120):
        assert cli.exit_status(body) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def ingest_config(**overrides) -> ml_collections.ConfigDict:
    config = configs.ingest.get_config()
    config.update(overrides)
    return config


def write_bvh_text(path: pathlib.Path, frame_time: float = 1 / 30) -> pathlib.Path:
    rig = make_rig_bvh(np.random.default_rng(0), num_frames=12)
    path.write_text(bvh.format_bvh(bvh.Bvh(rig.joints, frame_time, rig.motion)))
    return path


def human_npz(path: pathlib.Path) -> pathlib.Path:
    human_motion.save_npz(human_motion.HumanMotion(walking_positions(20, 30.0), 30.0, source="clip.bvh"), path)
    return path


def keypoint_json(path: pathlib.Path, fps) -> pathlib.Path:
    import json

    path.write_text(json.dumps({"positions": walking_positions(5, 30.0).tolist(), "names": list(SMPL_JOINT_NAMES),
                                "fps": fps}))
    return path


def npy_header(shape: tuple[int, ...]) -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return header.getvalue()


# --------------------------------------------------------------------------------------- unbounded time or memory


def test_billion_laughs_pickle_is_read_in_its_own_size(tmp_path, capsys):
    laughs = ["lol"] * 10
    for _ in range(40):  # 10**40 strings once every shared reference is expanded
        laughs = [laughs] * 10
    path = tmp_path / "laughs.pkl"
    path.write_bytes(pickle.dumps({"pose_world": laughs}, protocol=2))
    assert path.stat().st_size < 2000
    before = snapshot(path)
    with deadline(20):
        refused(capsys, lambda: ingest_cli.run(str(path), str(tmp_path / "out.npz"), ingest_config()), 1, str(path))
    assert snapshot(path) == before and not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("payload,problem", [
    (b"\x80\x02" + b"]" * 20000 + b"a" * 19999 + b".", "nested deeper than 128 levels"),  # lists in lists
    (b"\x80\x02" + b"]" * 5000, "not a readable pickle"),  # truncated: no STOP
    (b"\x80\x02cos\nsystem\nq\x00.", "refused to unpickle global 'os.system'"),
])
def test_hostile_pickles(tmp_path, capsys, payload, problem):
    path = tmp_path / "result.pkl"
    path.write_bytes(payload)
    refused(capsys, lambda: ingest_cli.run(str(path), str(tmp_path / "out.npz"), ingest_config()), 1,
            str(path), problem)


def test_npz_member_claiming_terabytes_is_refused_from_its_header(tmp_path, capsys):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("positions.npy", npy_header((10**12, 24, 3)) + bytes(1 << 20))
        archive.writestr("fps.npy", npy_header(()) + bytes(4))
    refused(capsys, lambda: ingest_cli.run(str(path), str(tmp_path / "out.npz"), ingest_config()), 1,
            str(path), "member positions.npy claims", "bytes of data but holds")


def test_npz_member_over_the_size_limit_is_refused_before_reading(tmp_path, capsys, monkeypatch):
    path = human_npz(tmp_path / "big.npz")
    monkeypatch.setattr(limits, "MAX_ARRAY_BYTES", 1000)
    refused(capsys, lambda: ingest_cli.run(str(path), str(tmp_path / "out.npz"), ingest_config()), 1,
            str(path), "member positions.npy", "exceeds the limit of 1,000 bytes")


def test_deep_bvh_hierarchy(tmp_path, capsys):
    depth = 3000
    channels = "CHANNELS 3 Zrotation Xrotation Yrotation"
    lines = ["HIERARCHY", "ROOT j0", "{", "OFFSET 0 0 0", "CHANNELS 6 Xposition Yposition Zposition Zrotation "
             "Xrotation Yrotation"]
    for i in range(1, depth):
        lines += [f"JOINT j{i}", "{", "OFFSET 0 1 0", channels]
    lines += ["}"] * depth + ["MOTION", "Frames: 1", "Frame Time: 0.0333", " ".join(["0"] * (3 + 3 * depth))]
    path = tmp_path / "deep.bvh"
    path.write_text("\n".join(lines))
    refused(capsys, lambda: ingest_cli.run(str(path), str(tmp_path / "out.npz"), ingest_config()), 1,
            str(path), "nested deeper than 128 joints")


@pytest.mark.parametrize("depth", [200, 100_000])
def test_deep_json(tmp_path, capsys, depth):
    path = tmp_path / "deep.json"
    path.write_text('{"positions": ' + "[" * depth + "]" * depth + ', "names": [], "fps": 30}')
    refused(capsys, lambda: ingest_cli.run(str(path), str(tmp_path / "out.npz"), ingest_config()), 1,
            str(path), "nested deeper than 128 levels")


def test_deep_name_map(tmp_path, capsys):
    source = write_bvh_text(tmp_path / "clip.bvh")
    name_map = tmp_path / "map.json"
    name_map.write_text("[" * 50_000 + "]" * 50_000)
    refused(capsys, lambda: ingest_cli.run(str(source), str(tmp_path / "out.npz"),
                                           ingest_config(name_map=str(name_map))), 1, str(name_map), "nested deeper")


# ------------------------------------------------------------------------------------------- implausible values


@pytest.mark.parametrize("frame_time,problem", [
    (1e-6, "frame rate 1000000 is outside [1, 1000] fps"), (1e300, "frame rate 1e-300 is outside [1, 1000] fps")])
def test_bvh_frame_rates_out_of_range(tmp_path, capsys, frame_time, problem):
    path = write_bvh_text(tmp_path / "clip.bvh", frame_time)
    refused(capsys, lambda: ingest_cli.run(str(path), str(tmp_path / "out.npz"), ingest_config()), 1,
            str(path), problem)


@pytest.mark.parametrize("fps,problem", [("abc", "fps must be one number, got 'abc'"),
                                         (1e300, "frame rate 1e+300 is outside [1, 1000] fps"),
                                         (0.01, "frame rate 0.01 is outside")])
def test_keypoint_frame_rates(tmp_path, capsys, fps, problem):
    path = keypoint_json(tmp_path / "points.json", fps)
    refused(capsys, lambda: ingest_cli.run(str(path), str(tmp_path / "out.npz"), ingest_config()), 1,
            str(path), problem)


def test_stored_fps_that_is_a_string(tmp_path, capsys):
    path = tmp_path / "clip.npz"
    np.savez(path, positions=walking_positions(5, 30.0), fps=np.array("thirty"), joint_names=np.array(SMPL_JOINT_NAMES))
    refused(capsys, lambda: ingest_cli.run(str(path), str(tmp_path / "out.npz"), ingest_config()), 1,
            str(path), "fps must be a number")


@pytest.mark.parametrize("overrides,needles", [
    ({"fps": -5.0}, ("--config.fps", "resampling rate -5 is outside")),
    ({"fps": 1e6}, ("--config.fps", "1000000 is outside")),
    ({"source_fps": -1.0}, ("--config.source_fps", "frame rate -1 is outside")),
    ({"start_s": 2.0, "end_s": 1.0}, ("--config.end_s", "is before --config.start_s")),
])
def test_ingest_config_out_of_range(tmp_path, capsys, overrides, needles):
    source = write_bvh_text(tmp_path / "clip.bvh")
    refused(capsys, lambda: ingest_cli.run(str(source), str(tmp_path / "out.npz"), ingest_config(**overrides)), 1,
            *needles)
    assert not (tmp_path / "out.npz").exists()


def test_gender_stored_as_an_object_array_is_not_silently_dropped(tmp_path, capsys):
    path = tmp_path / "amass.npz"
    np.savez(path, poses=np.zeros((10, 156)), trans=np.zeros((10, 3)), betas=np.zeros(16),
             mocap_framerate=np.float64(120), gender=np.array(["male"], dtype=object))
    refused(capsys, lambda: ingest_cli.run(str(path), str(tmp_path / "out.npz"), ingest_config()), 1,
            str(path), "'gender' is stored as a pickled Python object")


def test_binary_garbage_as_bvh(tmp_path, capsys):
    path = tmp_path / "clip.bvh"
    path.write_bytes(b"\xff\xfe\x00garbage" * 100)
    refused(capsys, lambda: ingest_cli.run(str(path), str(tmp_path / "out.npz"), ingest_config()), 1,
            str(path), "cannot read as BVH text")


# --------------------------------------------------------------------------------------- nothing is overwritten


def test_ingest_folder_whose_bvh_output_would_replace_an_input_npz(tmp_path, capsys):
    folder = tmp_path / "motions"
    folder.mkdir()
    write_bvh_text(folder / "a.bvh")
    human_npz(folder / "a.npz")
    before = snapshot(folder)
    refused(capsys, lambda: ingest_cli.run(str(folder), str(folder), ingest_config()), 1,
            str(folder / "a.npz"), "would overwrite the input")
    assert snapshot(folder) == before


def test_ingest_output_is_its_input(tmp_path, capsys):
    path = human_npz(tmp_path / "clip.npz")
    before = snapshot(path)
    refused(capsys, lambda: ingest_cli.run(str(path), str(path), ingest_config()), 1, str(path), "would overwrite")
    assert snapshot(path) == before


def test_foreign_file_at_the_output_needs_overwrite(tmp_path, capsys):
    source = write_bvh_text(tmp_path / "clip.bvh")
    notes = tmp_path / "out.npz"
    notes.write_text("my notes, not a motion")
    before = snapshot(tmp_path)
    refused(capsys, lambda: ingest_cli.run(str(source), str(notes), ingest_config()), 1,
            str(notes), "holds a text file, not a human motion", "--overwrite")
    assert snapshot(tmp_path) == before
    assert cli.exit_status(lambda: ingest_cli.run(str(source), str(notes), ingest_config(), overwrite=True)) == 0
    assert human_motion.load_npz(notes).num_frames == 12


def test_output_folder_that_is_a_file(tmp_path, capsys):
    source = write_bvh_text(tmp_path / "clip.bvh")
    (tmp_path / "afile").write_text("x")
    refused(capsys, lambda: ingest_cli.run(str(source), str(tmp_path / "afile" / "out.npz"), ingest_config()), 1,
            "afile", "is not a folder")


def test_output_folder_that_cannot_be_created(tmp_path, capsys):
    folder = tmp_path / "motions"
    folder.mkdir()
    write_bvh_text(folder / "clip.bvh")
    (tmp_path / "afile").write_text("x")
    refused(capsys, lambda: ingest_cli.run(str(folder), str(tmp_path / "afile" / "out"), ingest_config()), 1,
            str(tmp_path / "afile" / "out"), "cannot create the output folder")


def test_rerun_replaces_its_own_output_with_a_readable_mode_and_cleans_stale_temporaries(tmp_path, capsys):
    source = write_bvh_text(tmp_path / "clip.bvh")
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = out / f".clip.npz.{dead.pid}@{os.uname().nodename}.0123abcd.tmp"
    stale.write_bytes(b"half a file")
    for _ in range(2):
        assert cli.exit_status(lambda: ingest_cli.run(str(source), str(out), ingest_config())) == 0
    assert sorted(p.name for p in out.iterdir()) == ["clip.npz"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((out / "clip.npz").stat().st_mode) == 0o666 & ~umask


def test_interrupt_mid_write_leaves_nothing(tmp_path, capsys, monkeypatch):
    source = write_bvh_text(tmp_path / "clip.bvh")
    out = tmp_path / "out"
    out.mkdir()

    def interrupted_savez(file, **arrays):
        file.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(human_motion.np, "savez", interrupted_savez)
    assert cli.exit_status(lambda: ingest_cli.run(str(source), str(out), ingest_config())) == cli.EXIT_INTERRUPTED
    assert capsys.readouterr().err.strip().splitlines()[-1] == "interrupted"
    assert list(out.iterdir()) == []


# ----------------------------------------------------------------------------------------------------- retarget


def retarget(source: pathlib.Path, output: pathlib.Path, overwrite: bool = False):
    return lambda: retarget_cli.run(str(source), str(output), configs.retarget.get_config(), overwrite=overwrite)


def test_retarget_output_is_its_input(tmp_path, capsys):
    path = human_npz(tmp_path / "walk.npz")
    before = snapshot(path)
    refused(capsys, retarget(path, path), 1, str(path), "would overwrite the input")
    assert snapshot(path) == before


def test_retarget_folder_into_itself(tmp_path, capsys):
    human_npz(tmp_path / "walk.npz")
    before = snapshot(tmp_path)
    refused(capsys, retarget(tmp_path, tmp_path), 1, str(tmp_path / "walk.npz"), "would overwrite the input")
    assert snapshot(tmp_path) == before


def test_retarget_over_a_human_motion_that_is_not_an_input(tmp_path, capsys):
    source = human_npz(tmp_path / "walk.npz")
    other = human_npz(tmp_path / "other.npz")
    before = snapshot(tmp_path)
    refused(capsys, retarget(source, other), 1, str(other), "holds a human motion, not a robot motion")
    assert snapshot(tmp_path) == before


def test_retarget_body_model_problem_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GENMIMIC_BODY_MODELS", raising=False)
    path = tmp_path / "amass.npz"
    np.savez(path, poses=np.zeros((10, 156)), trans=np.zeros((10, 3)), betas=np.zeros(16),
             mocap_framerate=np.float64(120), gender=np.array("male"))
    refused(capsys, retarget(path, tmp_path / "robot.npz"), 1, str(path), "no body model folder")
    assert not (tmp_path / "robot.npz").exists()


# --------------------------------------------------------------------------------------- evaluate, export, train


def robot_motion(path: pathlib.Path, qpos_change=None, fps=30.0, source="builtin:synthetic_wave") -> pathlib.Path:
    qpos = np.zeros((10, constants.QPOS_SIZE), np.float32)
    qpos[:, 2], qpos[:, 3] = 0.75, 1.0
    qpos[:, 7:] = constants.DEFAULT_POSE
    if qpos_change:
        qpos_change(qpos)
    np.savez(path, qpos=qpos, fps=np.asarray(fps), keypoints=np.zeros((10, len(constants.KEYPOINT_NAMES), 3)),
             keypoint_names=np.array(constants.KEYPOINT_NAMES), source=np.array(source))
    return path


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory) -> dict[str, pathlib.Path]:
    """A G1 teacher run, a toy-task run and a run whose checkpoint lacks its network config (one checkpoint each)."""
    from genmimic_jax.rl.checkpointing import Checkpointer

    root = tmp_path_factory.mktemp("runs")
    obs_size = 4
    rng = np.random.default_rng(0)
    actor = {"Dense_0": {"kernel": rng.normal(size=(obs_size, 8)).astype(np.float32), "bias": np.zeros(8, np.float32)},
             "Dense_1": {"kernel": rng.normal(size=(8, 29)).astype(np.float32), "bias": np.zeros(29, np.float32)}}
    state = {"params": {"actor": actor},
             "normalizer": {"mean": {"privileged": np.zeros(obs_size, np.float32)},
                            "std": {"privileged": np.ones(obs_size, np.float32)}}}
    network = {"actor_hidden": [8], "activation": "elu"}
    runs = {"g1": {"env_name": "g1_tracking", "network": network},
            "toy": {"env_name": "toy", "network": network},
            "no_network": {"env_name": "g1_tracking"}}
    dirs = {}
    for name, config in runs.items():
        run_dir = root / name
        config = dict(config, env={}, ppo={"actor_obs": "privileged", "obs_clip": 10.0}, runs_dir=str(root), name=name)
        checkpointer = Checkpointer(run_dir / "checkpoints")
        checkpointer.save(1, state, ml_collections.ConfigDict(config))
        checkpointer.wait()
        checkpointer.close()
        files.write_json(run_dir / "config.json", config, "run_config")
        dirs[name] = run_dir
    return dirs


def export_config(checkpoint: pathlib.Path, output: pathlib.Path | str = "") -> ml_collections.ConfigDict:
    config = configs.export.get_config()
    config.checkpoint, config.output = str(checkpoint), str(output)
    return config


def test_export_over_the_runs_config(run_dirs, capsys):
    run = run_dirs["g1"]
    before = snapshot(run)
    refused(capsys, lambda: export_cli.run(export_config(run, run / "config.json")), 1,
            str(run / "config.json"), "must be an .onnx file path")
    renamed = run / "config.onnx"
    renamed.write_bytes((run / "config.json").read_bytes())
    refused(capsys, lambda: export_cli.run(export_config(run, renamed)), 1,
            str(renamed), "holds a run's config, not an ONNX model")
    renamed.unlink()
    assert snapshot(run) == before


def test_export_to_a_folder(run_dirs, tmp_path, capsys):
    folder = tmp_path / "policy.onnx"
    folder.mkdir()
    refused(capsys, lambda: export_cli.run(export_config(run_dirs["g1"], folder)), 1, str(folder), "is a folder")
    assert list(folder.iterdir()) == [] and not list(tmp_path.glob(".*tmp"))


@pytest.mark.parametrize("run,problem", [("toy", "a run of the 'toy' task"), ("no_network", "the checkpoint lacks")])
def test_export_of_another_tasks_run(run_dirs, tmp_path, capsys, run, problem):
    refused(capsys, lambda: export_cli.run(export_config(run_dirs[run], tmp_path / "p.onnx")), 1,
            str(run_dirs[run]), problem)


def test_export_of_a_folder_that_is_no_run(tmp_path, capsys):
    refused(capsys, lambda: export_cli.run(export_config(tmp_path, tmp_path / "p.onnx")), 1,
            str(tmp_path), "not a run directory")


def evaluate_config(checkpoint: pathlib.Path, motions: pathlib.Path, output: pathlib.Path) -> ml_collections.ConfigDict:
    config = configs.evaluate.get_config()
    config.checkpoint, config.motion_dir, config.output_dir = str(checkpoint), str(motions), str(output)
    return config


def set_joint(value: float):
    def change(qpos):
        qpos[3, 7 + 3] = value
    return change


@pytest.mark.parametrize("make,problem", [
    (lambda p: robot_motion(p, set_joint(50.0)), "is at 50 rad in frame 3, outside its range"),
    (lambda p: robot_motion(p, fps="thirty"), "fps must be numbers"),
    (lambda p: robot_motion(p, fps=1e6), "frame rate 1000000 is outside [1, 1000] fps"),
    (lambda p: robot_motion(p, lambda q: q.__setitem__((slice(None), 3), 5.0)), "root quaternions"),
])
def test_evaluate_refuses_implausible_robot_motions_naming_the_file(run_dirs, tmp_path, capsys, make, problem):
    motions = tmp_path / "motions"
    motions.mkdir()
    bad = make(motions / "bad.npz")
    before = snapshot(motions)
    line = refused(capsys, lambda: evaluate_cli.run(evaluate_config(run_dirs["g1"], motions, tmp_path / "out")), 1,
                   str(bad), problem)
    assert "builtin:" not in line
    assert snapshot(motions) == before and not (tmp_path / "out").exists()


def test_evaluate_does_not_replace_foreign_files(run_dirs, tmp_path, capsys):
    motions = tmp_path / "motions"
    motions.mkdir()
    robot_motion(motions / "clip.npz")
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_bytes(b"\x00\x01binary")
    before = snapshot(tmp_path)
    refused(capsys, lambda: evaluate_cli.run(evaluate_config(run_dirs["g1"], motions, out)), 1,
            str(out / "report.json"), "a file of another program")
    assert snapshot(tmp_path) == before


def test_evaluate_config_out_of_range(run_dirs, tmp_path, capsys):
    config = evaluate_config(run_dirs["g1"], tmp_path, tmp_path / "out")
    config.threads = 0
    refused(capsys, lambda: evaluate_cli.run(config), 1, "--config.threads", "at least 1")
    config.threads, config.backend = 1, "gpu"
    refused(capsys, lambda: evaluate_cli.run(config), 1, "--config.backend", "mujoco, mjx")
    config.backend, config.noise_seeds = "mujoco", 0
    refused(capsys, lambda: evaluate_cli.run(config), 1, "--config.noise_seeds", "at least 1")


@pytest.mark.parametrize("num_envs", [0, -3, 10**9])
def test_train_refuses_implausible_env_counts(tmp_path, capsys, num_envs):
    from genmimic_jax.rl import launch

    config = configs.train.get_config("toy")
    config.runs_dir, config.env.num_envs = str(tmp_path), num_envs
    refused(capsys, lambda: launch.train(config), 1, "--config.env.num_envs",
            f"number of environments {num_envs:.7g} is outside [1, {limits.MAX_NUM_ENVS}]")
    assert list(tmp_path.iterdir()) == []


def test_train_resuming_a_run_whose_config_was_overwritten(tmp_path, capsys):
    from genmimic_jax.rl import launch

    config = configs.train.get_config("toy")
    config.runs_dir, config.name = str(tmp_path), "run"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_bytes(b"\x08\x07\xff\xfe onnx bytes")
    before = snapshot(tmp_path)
    refused(capsys, lambda: launch.train(config), 1, str(tmp_path / "run" / "config.json"), "cannot read as JSON")
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------------------------------------ command lines


def test_unknown_config_field_is_one_line_and_usage_status(tmp_path):
    result = subprocess.run([sys.executable, "-m", "experiments.export", "--config.foo=1"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == cli.EXIT_USAGE
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        "error: --config.foo=1: no config field 'foo' (see the config file for the fields)"]


def test_entry_points_log_warnings_only_unless_asked():
    """What the libraries log at INFO (orbax: every checkpoint file it reads) stays out of a command's output; absl's
    `--verbosity` brings it back."""
    program = ("from absl import logging\nfrom experiments import cli\n"
               "cli.run(lambda argv: logging.info('checkpoint file read') or logging.warning('disk nearly full'))")
    quiet = subprocess.run([sys.executable, "-c", program], cwd=REPO, capture_output=True, text=True, timeout=300)
    asked = subprocess.run([sys.executable, "-c", program, "--verbosity=0"], cwd=REPO, capture_output=True, text=True,
                           timeout=300)
    assert quiet.returncode == asked.returncode == cli.EXIT_OK
    assert "disk nearly full" in quiet.stderr and "checkpoint file read" not in quiet.stderr
    assert "checkpoint file read" in asked.stderr


def test_missing_flags_are_usage_errors(capsys):
    refused(capsys, lambda: ingest_cli.run(None, None, ingest_config()), cli.EXIT_USAGE, "--input and --output")
    refused(capsys, lambda: export_cli.run(export_config("")), cli.EXIT_USAGE, "--config.checkpoint")


@pytest.mark.slow
def test_ctrl_c_during_startup_is_one_line(tmp_path):
    source = write_bvh_text(tmp_path / "clip.bvh")
    process = subprocess.Popen([sys.executable, "-m", "experiments.ingest", f"--input={source}",
                                f"--output={tmp_path / 'out.npz'}"], cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        process.wait(timeout=1.5)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode in (cli.EXIT_INTERRUPTED, -signal.SIGINT, 0)
    assert "Traceback" not in err
    if process.returncode != 0:
        assert err.strip().splitlines()[-1] == "interrupted"
