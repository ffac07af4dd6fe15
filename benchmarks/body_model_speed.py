"""Jitted batched forward speed of the JAX body model at the real SMPL / SMPL-X sizes.

The model arrays are synthetic (random, generated in memory) but have the real sizes: SMPL 6890 vertices and 24
joints, SMPL-X 10475 vertices and 55 joints with 400 shape+expression components (v1.1 files). Each forward
computes vertices, joints and global rotations for 10 betas (+ 10 expression coefficients for SMPL-X) and full
axis-angle poses. Compile time (lower + compile) is reported apart from the steady-state time, which is the median
over `--repeats` calls. When torch and smplx are installed, the `smplx` package (PyTorch, CPU, no_grad) runs the
same arrays and batches in the same process (from a temporary model file), for a side-by-side ratio.

  python benchmarks/body_model_speed.py [--batch_sizes=1,64,512] [--repeats=10] [--compare_smplx=false]
"""

import pathlib
import pickle
import tempfile
import time

import jax
import numpy as np
from absl import app, flags

from genmimic_jax.human import body_model as bm
from genmimic_jax.human import synthetic_body_model as synthetic

_BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["1", "64", "512"], "Frames per forward call.")
_REPEATS = flags.DEFINE_integer("repeats", 10, "Timed calls per batch size (median reported).")
_MODELS = flags.DEFINE_list("models", ["smplx", "smpl"], "Model types to time.")
_COMPARE = flags.DEFINE_boolean("compare_smplx", True, "Also time the smplx package when it is installed.")

_REAL_SIZES = {"smpl": dict(num_verts=6890, num_shape=10), "smplx": dict(num_verts=10475, num_shape=300,
                                                                        num_expression=100)}


def _params(model: bm.BodyModel, batch: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    params = {
        "betas": rng.normal(size=(batch, 10)),
        "global_orient": rng.normal(size=(batch, 3)),
        "body_pose": rng.normal(scale=0.3, size=(batch, 3 * (bm.NUM_BODY_JOINTS[model.model_type] - 1))),
        "transl": rng.normal(size=(batch, 3)),
    }
    if model.model_type == "smplx":
        params.update({name: rng.normal(scale=0.3, size=(batch, size)) for name, size in
                       [("left_hand_pose", 45), ("right_hand_pose", 45), ("jaw_pose", 3), ("leye_pose", 3),
                        ("reye_pose", 3), ("expression", 10)]})
    return {k: jax.device_put(v.astype(np.float32)) for k, v in params.items()}


def _median_seconds(call) -> float:
    call()  # warm-up
    times = []
    for _ in range(_REPEATS.value):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _smplx_reference(model_type: str, arrays: dict[str, np.ndarray], folder: pathlib.Path):
    """The smplx package's model for the same arrays, or None without torch/smplx."""
    try:
        import smplx  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    (folder / model_type).mkdir()
    if model_type == "smplx":
        np.savez(folder / "smplx" / "SMPLX_NEUTRAL.npz", **arrays)
        return smplx.create(str(folder), model_type="smplx", num_betas=10, num_expression_coeffs=10,
                            use_pca=False, flat_hand_mean=True)
    with open(folder / "smpl" / "SMPL_NEUTRAL.pkl", "wb") as file:
        pickle.dump(arrays, file)
    return smplx.create(str(folder), model_type="smpl", num_betas=10)


def main(argv):
    del argv
    print(f"JAX {jax.__version__}, backend {jax.default_backend()}, devices {jax.devices()}")
    for model_type in _MODELS.value:
        arrays = synthetic.make_model_arrays(model_type, **_REAL_SIZES[model_type])
        model = bm.from_arrays(arrays, model_type)
        with tempfile.TemporaryDirectory() as folder:
            reference = _smplx_reference(model_type, arrays, pathlib.Path(folder)) if _COMPARE.value else None
        print(f"\n{model_type}: {model.v_template.shape[0]} vertices, {model.num_joints} joints, "
              f"{model.num_betas}+{model.num_expression} shape+expression components")
        header = f"{'batch':>6} {'compile s':>10} {'ms/call':>10} {'frames/s':>12}"
        print(header + (f" {'smplx ms/call':>14} {'smplx frames/s':>15} {'JAX speed-up':>13}" if reference else ""))
        for batch in (int(b) for b in _BATCH_SIZES.value):
            params = _params(model, batch)
            start = time.perf_counter()
            compiled = jax.jit(bm.forward).lower(model, params).compile()
            compile_s = time.perf_counter() - start
            seconds = _median_seconds(lambda: jax.block_until_ready(compiled(model, params)))  # noqa: B023
            line = f"{batch:>6} {compile_s:>10.2f} {seconds * 1e3:>10.2f} {batch / seconds:>12.0f}"
            if reference is not None:
                import torch  # pylint: disable=import-outside-toplevel

                torch_params = {k: torch.tensor(np.asarray(v)) for k, v in params.items()}
                with torch.no_grad():
                    torch_s = _median_seconds(lambda: reference(**torch_params))  # noqa: B023
                line += f" {torch_s * 1e3:>14.2f} {batch / torch_s:>15.0f} {torch_s / seconds:>12.2f}x"
            print(line)


if __name__ == "__main__":
    app.run(main)
