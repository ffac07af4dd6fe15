"""Exports a trained policy to ONNX (normalisation folded in, DDS motor order, deployment metadata).

    python -m experiments.export --config.checkpoint=runs/student [--config.policy=teacher] [--config.output=p.onnx]

Prints the file written, the observation it reads and the largest onnxruntime-vs-JAX action difference.
"""

import pathlib
import sys

from absl import app
from ml_collections import config_flags

import configs.export
from genmimic_jax.eval.policy import PolicyLoadError, load_policy
from genmimic_jax.export import onnx_export

_CONFIG = config_flags.DEFINE_config_file("config", configs.export.__file__, "Export options (configs/export.py).")


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    config = _CONFIG.value
    if not config.checkpoint:
        print("error: --config.checkpoint (a run directory) is required", file=sys.stderr)
        return 2
    try:
        policy = load_policy(config.checkpoint, config.policy, None if config.step < 0 else config.step)
        output = pathlib.Path(config.output or pathlib.Path(config.checkpoint) / f"policy_{policy.kind}.onnx")
        _, max_error = onnx_export.export_policy(policy, output, config.parity_samples, config.parity_tolerance)
    except (PolicyLoadError, onnx_export.ExportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {output}: {policy.kind} policy (step {policy.step}), input 'obs' [{policy.obs_size}] "
          f"('{policy.obs_key}' observation), output 'actions' [29] in DDS motor order; "
          f"onnxruntime vs JAX max |diff| {max_error:.2e}")
    return 0


if __name__ == "__main__":
    app.run(main)
