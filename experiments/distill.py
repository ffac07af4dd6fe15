"""Distils a trained teacher into a deployable student with DAgger; resumes like experiments.train.

    python -m experiments.distill --config=configs/distill.py --config.teacher_dir=runs/teacher \\
        --config.name=student [--config.dagger.num_updates=1000] [--config.env.num_envs=4096]

The student trains in the teacher's environment (its config.json) on the 'actor' observations, with its own
observation noise (`env.noise` of configs/distill.py, e.g. drifting goals).
"""

import configs.distill
from experiments import cli
from genmimic_jax.rl import launch

_CONFIG = cli.define_config(configs.distill.__file__, "Distillation config.")


def main(argv: list[str]) -> int:
    cli.no_arguments(argv)
    print(f"done: {launch.distill(_CONFIG.value)}")
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
