"""Exports a trained policy to ONNX (normalisation folded in, DDS motor order, deployment metadata).

    python -m experiments.export --config.checkpoint=runs/student [--config.policy=teacher] [--config.output=p.onnx]

Prints the file written, the observation it reads and the largest onnxruntime-vs-JAX action difference. The output
(checked before the export) never replaces an existing file that is not an ONNX model, such as the run's config.json,
unless --overwrite. Exit status as in experiments.cli.
"""

import pathlib

from absl import app

import configs.export
from experiments import cli
from genmimic_jax.errors import InputError

_CONFIG = cli.define_config(configs.export.__file__, "Export options (configs/export.py).")
_OVERWRITE = cli.define_overwrite()

G1_TASK = "g1_tracking"


def require_g1_policy(saved) -> None:
    """Refuses a policy (`rl.policy.SavedPolicy`) trained on another task than G1 tracking (e.g. the toy task)."""
    task = saved.run_config.get("env_name", G1_TASK)
    if task != G1_TASK:
        raise InputError(f"{saved.run_dir}: a run of the {task!r} task, not of {G1_TASK!r}")


def run(config, overwrite: bool = False) -> int:
    """Exports as `config` (configs/export.py) says; returns the exit status."""
    from genmimic_jax.rl.policy import load_policy
    from genmimic_jax.export import onnx_export

    if not config.checkpoint:
        raise app.UsageError("--config.checkpoint (a run directory) is required")
    if config.parity_samples < 1:
        raise InputError(f"--config.parity_samples: must be at least 1, got {config.parity_samples}")
    saved = load_policy(config.checkpoint, config.policy, None if config.step < 0 else config.step)
    require_g1_policy(saved)
    output = pathlib.Path(config.output or pathlib.Path(config.checkpoint) / f"policy_{saved.kind}.onnx")
    if output.suffix != ".onnx":
        raise InputError(f"{output}: --config.output must be an .onnx file path")
    _, max_error = onnx_export.export_policy(saved, output, config.parity_samples, config.parity_tolerance,
                                             overwrite=overwrite)
    print(f"wrote {output}: {saved.kind} policy (step {saved.step}), input 'obs' [{saved.policy.obs_size}] "
          f"('{saved.policy.obs_key}' observation), output 'actions' [29] in DDS motor order; "
          f"onnxruntime vs JAX max |diff| {max_error:.2e}")
    return cli.EXIT_OK


def main(argv: list[str]) -> int:
    cli.no_arguments(argv)
    return run(_CONFIG.value, _OVERWRITE.value)


if __name__ == "__main__":
    cli.run(main)
