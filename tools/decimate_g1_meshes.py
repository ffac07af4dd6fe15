"""Decimates Unitree's G1 meshes (BSD-3) into the render model's meshes; a development tool, not run at install.

    pip install --target /tmp/fs fast-simplification   # a development-time dependency only
    PYTHONPATH=/tmp/fs python tools/decimate_g1_meshes.py ../shared/reference/unitree_g1/meshes

Writes binary STL files to genmimic_jax/robot/g1/meshes/ (same names, lower-case suffix) with about FACE_FRACTION of
each mesh's triangles (at least MIN_FACES), plus Unitree's licence text beside them.
"""

from __future__ import annotations

import pathlib
import shutil
import sys

import trimesh

FACE_FRACTION = 0.07
MIN_FACES = 300
OUT_DIR = pathlib.Path(__file__).resolve().parents[1] / "genmimic_jax" / "robot" / "g1" / "meshes"


def decimate(source: pathlib.Path, target: pathlib.Path) -> tuple[int, int]:
    """Writes a decimated copy of the STL `source` to `target`; returns the face counts before and after."""
    mesh = trimesh.load(source, force="mesh")
    faces = max(MIN_FACES, int(len(mesh.faces) * FACE_FRACTION))
    reduced = mesh if faces >= len(mesh.faces) else mesh.simplify_quadric_decimation(face_count=faces)
    reduced.export(target, file_type="stl")
    return len(mesh.faces), len(reduced.faces)


def main(mesh_dir: str) -> None:
    source_dir = pathlib.Path(mesh_dir)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source_dir.parent / "LICENSE", OUT_DIR / "LICENSE")
    before = after = 0
    for source in sorted(source_dir.glob("*.STL")):
        count_before, count_after = decimate(source, OUT_DIR / f"{source.stem}.stl")
        before, after = before + count_before, after + count_after
    size = sum(path.stat().st_size for path in OUT_DIR.glob("*.stl"))
    print(f"{before} -> {after} faces, {size / 1e6:.2f} MB in {OUT_DIR}")


if __name__ == "__main__":
    main(sys.argv[1])
