"""Loading the project's G1 model in MuJoCo and MJX."""

import pathlib

import mujoco
import numpy as np
from mujoco import mjx

from genmimic_jax.robot.g1 import constants

ASSET_DIR = pathlib.Path(__file__).resolve().parent
XML_PATH = ASSET_DIR / "g1.xml"
SCENE_XML_PATH = ASSET_DIR / "scene.xml"


def load_model(scene: bool = True) -> mujoco.MjModel:
    """The G1 as a MuJoCo model; with `scene`, on a floor with the contact pairs."""
    return mujoco.MjModel.from_xml_path(str(SCENE_XML_PATH if scene else XML_PATH))


def load_spec(scene: bool = True) -> mujoco.MjSpec:
    """The G1 as a MuJoCo model specification (what `load_model` compiles), for a caller that adds to it."""
    return mujoco.MjSpec.from_file(str(SCENE_XML_PATH if scene else XML_PATH))


def load_mjx_model(scene: bool = True) -> mjx.Model:
    """The G1 on the default JAX device as an MJX model."""
    return mjx.put_model(load_model(scene))


def default_qpos() -> np.ndarray:
    """Standing qpos [36]: root at DEFAULT_ROOT_HEIGHT, identity orientation, DEFAULT_POSE joints."""
    return np.concatenate([[0.0, 0.0, constants.DEFAULT_ROOT_HEIGHT, 1.0, 0.0, 0.0, 0.0], constants.DEFAULT_POSE])


def site_ids(model: mujoco.MjModel, names: tuple[str, ...]) -> np.ndarray:
    """Site ids for names, with a clear error for a missing one."""
    ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, n) for n in names]
    missing = [n for n, i in zip(names, ids) if i < 0]
    if missing:
        raise KeyError(f"sites missing from the G1 model: {missing}")
    return np.array(ids)


def keypoint_positions(model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray:
    """World positions [K, 3] of the tracking keypoints (after mj_kinematics or mj_forward)."""
    return data.site_xpos[site_ids(model, constants.KEYPOINT_SITES)].copy()
