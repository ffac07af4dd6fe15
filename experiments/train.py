"""Trains a teacher (or a direct student) with PPO; resumes when the run directory has checkpoints.

    python -m experiments.train --config=configs/train.py:g1_tracking --config.name=teacher \\
        [--config.motion_dir=retargeted/] [--config.ppo.num_updates=2000] [--config.symmetry.actor_coef=0.5]

Writes runs/<name>/config.json, checkpoints/ and logs/ (TensorBoard; plot with experiments.plot_logs).
"""

import configs.train
from experiments import cli
from genmimic_jax.rl import launch

_CONFIG = cli.define_config(configs.train.__file__, "Training config.")


def main(argv: list[str]) -> int:
    cli.no_arguments(argv)
    print(f"done: {launch.train(_CONFIG.value)}")
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
