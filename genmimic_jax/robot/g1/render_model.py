"""The G1 for pictures: the physics model with Unitree's meshes as visual-only geoms.

The meshes (decimated from Unitree's BSD-3 G1 meshes, licence in `meshes/LICENSE`) are attached to the bodies of
`g1.xml` exactly where Unitree's `g1_29dof.xml` puts them. They never collide (contype = conaffinity = 0), add no
mass (the bodies' inertials are explicit) and are only in this model: `model.load_model` / `load_mjx_model`, which
MJX and C MuJoCo step, stay primitive-only. Here the collision primitives move to a hidden geom group.
"""

from __future__ import annotations

import dataclasses

import mujoco

from genmimic_jax.robot.g1 import model as g1_model

MESH_DIR = g1_model.ASSET_DIR / "meshes"
VISUAL_GROUP = 2  # Shown by MuJoCo's default geom groups (0-2).
HIDDEN_GROUP = 4  # Hidden by default; the collision primitives go here (toggle with '4' in the viewer).
DARK_RGBA = (0.2, 0.2, 0.2, 1.0)
LIGHT_RGBA = (0.7, 0.7, 0.7, 1.0)
SHADOW_LIGHT_OFFSET = (1.0, -1.0, 3.0)  # From the pelvis, metres.


@dataclasses.dataclass(frozen=True)
class VisualMesh:
    """One of Unitree's visual meshes: the body it is fixed to, its file stem and its offset in the body frame."""

    body: str
    mesh: str
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    dark: bool = False


_HEAD_OFFSET = (0.0039635, 0.0, -0.054)  # Unitree's offset of the head, logo and waist support on the torso.

# Unitree's g1_29dof.xml visual geoms (every orientation there is the identity); tests check them against that file.
VISUAL_MESHES: tuple[VisualMesh, ...] = (
    VisualMesh("pelvis", "pelvis", dark=True),
    VisualMesh("pelvis", "pelvis_contour_link"),
    *(mesh for side in ("left", "right") for mesh in (
        VisualMesh(f"{side}_hip_pitch_link", f"{side}_hip_pitch_link", dark=True),
        VisualMesh(f"{side}_hip_roll_link", f"{side}_hip_roll_link"),
        VisualMesh(f"{side}_hip_yaw_link", f"{side}_hip_yaw_link"),
        VisualMesh(f"{side}_knee_link", f"{side}_knee_link"),
        VisualMesh(f"{side}_ankle_pitch_link", f"{side}_ankle_pitch_link"),
        VisualMesh(f"{side}_ankle_roll_link", f"{side}_ankle_roll_link", dark=True),
    )),
    VisualMesh("waist_yaw_link", "waist_yaw_link"),
    VisualMesh("waist_roll_link", "waist_roll_link"),
    VisualMesh("torso_link", "torso_link"),
    VisualMesh("torso_link", "logo_link", _HEAD_OFFSET, dark=True),
    VisualMesh("torso_link", "head_link", _HEAD_OFFSET, dark=True),
    VisualMesh("torso_link", "waist_support_link", _HEAD_OFFSET),
    *(mesh for side, sign in (("left", 1.0), ("right", -1.0)) for mesh in (
        VisualMesh(f"{side}_shoulder_pitch_link", f"{side}_shoulder_pitch_link"),
        VisualMesh(f"{side}_shoulder_roll_link", f"{side}_shoulder_roll_link"),
        VisualMesh(f"{side}_shoulder_yaw_link", f"{side}_shoulder_yaw_link"),
        VisualMesh(f"{side}_elbow_link", f"{side}_elbow_link"),
        VisualMesh(f"{side}_wrist_roll_link", f"{side}_wrist_roll_link"),
        VisualMesh(f"{side}_wrist_pitch_link", f"{side}_wrist_pitch_link"),
        VisualMesh(f"{side}_wrist_yaw_link", f"{side}_wrist_yaw_link"),
        VisualMesh(f"{side}_wrist_yaw_link", f"{side}_rubber_hand", (0.0415, sign * 0.003, 0.0)),
    )),
)


def render_spec(scene: bool = True) -> mujoco.MjSpec:
    """The physics model's spec with the visual meshes added and the collision primitives hidden."""
    spec = mujoco.MjSpec.from_file(str(g1_model.SCENE_XML_PATH if scene else g1_model.XML_PATH))
    for geom in spec.geoms:
        if geom.parent.name != "world":
            geom.group = HIDDEN_GROUP
    for mesh_name in sorted({visual.mesh for visual in VISUAL_MESHES}):
        spec.add_mesh(name=mesh_name, file=str(MESH_DIR / f"{mesh_name}.stl"))
    for visual in VISUAL_MESHES:
        spec.body(visual.body).add_geom(
            name=f"{visual.mesh}_visual", type=mujoco.mjtGeom.mjGEOM_MESH, meshname=visual.mesh, pos=visual.pos,
            contype=0, conaffinity=0, group=VISUAL_GROUP, density=0.0,
            rgba=DARK_RGBA if visual.dark else LIGHT_RGBA)
    if scene:
        _add_follow_light(spec)
    return spec


def _add_follow_light(spec: mujoco.MjSpec) -> None:
    """A light that follows the pelvis from above and in front, so the robot casts a visible shadow on the floor
    (the only shadow: the scene's overhead light, whose shadow hides under the feet, casts none here)."""
    for light in spec.lights:
        light.castshadow = False
    spec.body("pelvis").add_light(
        name="follow_light", mode=mujoco.mjtCamLight.mjCAMLIGHT_TRACK, pos=SHADOW_LIGHT_OFFSET,
        dir=tuple(-x for x in SHADOW_LIGHT_OFFSET), castshadow=True, diffuse=(0.4, 0.4, 0.4), cutoff=45.0)


def load_render_model(scene: bool = True) -> mujoco.MjModel:
    """The G1 with Unitree's meshes, for rendering and the viewer only (never step it for training)."""
    return render_spec(scene).compile()
