"""The render model: the physics model's kinematics and physics, plus Unitree's meshes where Unitree puts them."""

from xml.etree import ElementTree

import mujoco
import numpy as np
import pytest

from genmimic_jax.robot.g1 import constants, model as g1_model, render_model


@pytest.fixture(scope="module")
def physics_model() -> mujoco.MjModel:
    return g1_model.load_model()


@pytest.fixture(scope="module")
def visual_model() -> mujoco.MjModel:
    return render_model.load_render_model()


def _random_qpos(rng: np.random.Generator) -> np.ndarray:
    lo, hi = constants.JOINT_LIMITS.T
    quat = rng.normal(size=4)
    return np.concatenate([rng.uniform(-1, 1, 3), quat / np.linalg.norm(quat), rng.uniform(lo, hi)])


def _posed(model: mujoco.MjModel, qpos: np.ndarray) -> mujoco.MjData:
    data = mujoco.MjData(model)
    data.qpos[:] = qpos
    mujoco.mj_kinematics(model, data)
    return data


def test_physics_model_has_no_meshes_and_render_meshes_never_collide(physics_model, visual_model):
    assert physics_model.nmesh == 0
    meshes = visual_model.geom_type == mujoco.mjtGeom.mjGEOM_MESH
    assert meshes.sum() == len(render_model.VISUAL_MESHES) and visual_model.nmesh == len(render_model.VISUAL_MESHES)
    assert not visual_model.geom_contype[meshes].any() and not visual_model.geom_conaffinity[meshes].any()
    assert (visual_model.geom_group[meshes] == render_model.VISUAL_GROUP).all()
    assert visual_model.npair == physics_model.npair and visual_model.nu == physics_model.nu
    primitives = np.flatnonzero(~meshes)
    for field in ("geom_type", "geom_size", "geom_contype", "geom_conaffinity", "geom_friction", "geom_bodyid"):
        np.testing.assert_array_equal(getattr(visual_model, field)[primitives], getattr(physics_model, field))
    for field in ("body_mass", "body_inertia", "body_ipos", "dof_armature", "dof_damping", "jnt_range"):
        np.testing.assert_array_equal(getattr(visual_model, field), getattr(physics_model, field))


def test_render_model_kinematics_equal_the_physics_model(physics_model, visual_model):
    rng = np.random.default_rng(0)
    assert [visual_model.body(i).name for i in range(visual_model.nbody)] == [
        physics_model.body(i).name for i in range(physics_model.nbody)]
    for _ in range(20):
        qpos = _random_qpos(rng)
        ours, physics = _posed(visual_model, qpos), _posed(physics_model, qpos)
        np.testing.assert_allclose(ours.xpos, physics.xpos, atol=1e-12)
        np.testing.assert_allclose(ours.xquat, physics.xquat, atol=1e-12)
        np.testing.assert_allclose(ours.site_xpos, physics.site_xpos, atol=1e-12)


def _mesh_world_boxes(model: mujoco.MjModel, data: mujoco.MjData, visual_only: bool) -> dict[str, np.ndarray]:
    """[2, 3] world bounding box of each mesh's vertices, by mesh name (first visual geom using it)."""
    boxes = {}
    for geom in range(model.ngeom):
        mesh = model.geom_dataid[geom]
        if model.geom_type[geom] != mujoco.mjtGeom.mjGEOM_MESH or (visual_only and model.geom_contype[geom]):
            continue
        name = model.mesh(mesh).name
        start, count = model.mesh_vertadr[mesh], model.mesh_vertnum[mesh]
        world = data.geom_xpos[geom] + model.mesh_vert[start:start + count] @ data.geom_xmat[geom].reshape(3, 3).T
        boxes.setdefault(name, np.stack([world.min(axis=0), world.max(axis=0)]))
    return boxes


def test_visual_mesh_table_is_unitrees(shared_dir):
    """Body, mesh, offset and colour of every visual geom as in Unitree's g1_29dof.xml (orientations all identity)."""
    root = ElementTree.parse(shared_dir / "reference/unitree_g1/g1_29dof.xml").getroot()
    theirs = set()
    for body in root.iter("body"):
        for geom in body.findall("geom"):
            if geom.get("mesh") and geom.get("contype") == "0":
                assert np.allclose([float(x) for x in geom.get("quat", "1 0 0 0").split()], [1, 0, 0, 0])
                pos = tuple(round(float(x), 7) for x in geom.get("pos", "0 0 0").split())
                theirs.add((body.get("name"), geom.get("mesh"), pos, geom.get("rgba") == "0.2 0.2 0.2 1"))
    ours = {(v.body, v.mesh, tuple(round(float(x), 7) for x in v.pos), v.dark) for v in render_model.VISUAL_MESHES}
    assert ours == theirs


def test_meshes_sit_where_unitree_puts_them(visual_model, shared_dir):
    """Each decimated mesh's world bounding box matches Unitree's full mesh at random configurations (within what
    decimation shaves off thin extremes, up to 2 cm on the torso; a missing head offset would move it 5 cm)."""
    unitree = mujoco.MjModel.from_xml_path(str(shared_dir / "reference/unitree_g1/g1_29dof.xml"))
    rng = np.random.default_rng(1)
    for _ in range(5):
        qpos = _random_qpos(rng)
        ours = _mesh_world_boxes(visual_model, _posed(visual_model, qpos), visual_only=False)
        theirs = _mesh_world_boxes(unitree, _posed(unitree, qpos), visual_only=True)
        assert set(ours) == set(theirs)
        worst = {name: float(np.abs(ours[name] - theirs[name]).max()) for name in ours}
        assert max(worst.values()) < 0.025, sorted(worst.items(), key=lambda item: -item[1])[:3]
