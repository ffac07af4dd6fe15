"""`python -m experiments.ingest`: files and folders, summary, resampling, bad files, no overwriting."""

import json
import pathlib
import subprocess
import sys

import numpy as np

from genmimic_jax.human import bvh, motion as motion_lib
from genmimic_jax.human.skeleton import SMPL_JOINT_NAMES
from human_test_data import make_rig_bvh, walking_positions

REPO = pathlib.Path(__file__).resolve().parents[1]


def _ingest(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "experiments.ingest", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_folder_with_a_bad_file(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    for seed, name in enumerate(("walk", "jog")):
        bvh.write_bvh(make_rig_bvh(np.random.default_rng(seed), num_frames=30 + seed), source / f"{name}.bvh")
    (source / "broken.bvh").write_text(bvh.format_bvh(make_rig_bvh(np.random.default_rng(5)))[:-300])
    (source / "notes.txt").write_text("not a motion")
    result = _ingest(f"--input={source}", f"--output={tmp_path / 'out'}", "--config.fps=60")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and str(source / "broken.bvh") in errors[0] and "truncated" in errors[0]
    assert "1 of 3 files failed" in result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["jog.npz", "walk.npz"]
    walk = motion_lib.load_npz(tmp_path / "out" / "walk.npz")
    assert walk.fps == 60.0 and walk.num_frames == 59  # 30 frames at 30 fps span 29/30 s.
    assert "walk.bvh" in result.stdout and "frames" in result.stdout.splitlines()[0]
    row = next(line for line in result.stdout.splitlines() if line.startswith("walk.bvh")).split()
    assert row[1:4] == ["59", "60.00", "0.97"] and row[5] == "22/24"


def test_single_file_keeps_frames_and_fps_and_never_overwrites_input(tmp_path):
    rig = make_rig_bvh(np.random.default_rng(0), num_frames=12)
    bvh.write_bvh(rig, tmp_path / "clip.bvh")
    result = _ingest(f"--input={tmp_path / 'clip.bvh'}", f"--output={tmp_path / 'clip.npz'}")
    assert result.returncode == 0, result.stderr
    converted = motion_lib.load_npz(tmp_path / "clip.npz")
    assert converted.num_frames == 12 and converted.fps == 30.0
    before = (tmp_path / "clip.npz").read_bytes()
    result = _ingest(f"--input={tmp_path / 'clip.npz'}", f"--output={tmp_path / 'clip.npz'}")
    assert result.returncode == 1 and "would overwrite the input" in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "clip.npz").read_bytes() == before
    result = _ingest(f"--input={tmp_path / 'clip.npz'}", f"--output={tmp_path / 'trimmed.npz'}",
                     "--config.start_s=0.1", "--config.end_s=0.2")
    assert result.returncode == 0, result.stderr
    trimmed = motion_lib.load_npz(tmp_path / "trimmed.npz")
    np.testing.assert_array_equal(trimmed.positions, converted.positions[3:7])


def test_missing_input_is_a_one_line_error(tmp_path):
    result = _ingest(f"--input={tmp_path / 'nothing.bvh'}", f"--output={tmp_path / 'x.npz'}")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == f"error: {tmp_path / 'nothing.bvh'}: no such file or folder"
    assert not (tmp_path / "x.npz").exists()


def test_keypoints_with_name_map_and_unit_options(tmp_path):
    names = ["root"] + list(SMPL_JOINT_NAMES[1:])
    positions = walking_positions(10, 20.0) * 1000.0  # Millimetres.
    (tmp_path / "kp.json").write_text(json.dumps({"positions": positions.tolist(), "names": names, "fps": 20}))
    (tmp_path / "map.json").write_text(json.dumps({"root": "pelvis"}))
    result = _ingest(f"--input={tmp_path / 'kp.json'}", f"--output={tmp_path}", "--config.unit=0.001",
                     f"--config.name_map={tmp_path / 'map.json'}")
    assert result.returncode == 0, result.stderr
    motion = motion_lib.load_npz(tmp_path / "kp.npz")
    np.testing.assert_allclose(motion.positions, walking_positions(10, 20.0), atol=1e-5)
    result = _ingest(f"--input={tmp_path / 'kp.json'}", f"--output={tmp_path / 'other.npz'}")
    assert result.returncode == 1 and "unknown keypoint names root" in result.stderr
