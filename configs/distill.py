"""Student distillation with DAgger from a trained teacher run.

    python -m experiments.distill --config=configs/distill.py --config.teacher_dir=runs/teacher --config.name=student

The environment (`env_name`, `env` but for the student's own keys `launch.STUDENT_ENV_KEYS`, what its actor observes
and the noise on it; `motion_dir`) and the `teacher` block are read from the teacher's `config.json`; everything else
here can be overridden on the command line.
`configs/distill.py:cpu` is the CPU recipe (`cpu_recipe`), the student of `configs/train.py:g1_cpu`:

    python -m experiments.distill --config=configs/distill.py:cpu --config.teacher_dir=runs/teacher \
        --config.run.max_minutes=30
"""

import ml_collections

import configs.train
from genmimic_jax.rl import env_factory


def get_config(preset: str = "") -> ml_collections.ConfigDict:
    if preset == "cpu":
        return cpu_recipe(get_config())
    if preset:
        raise ValueError(f"unknown distillation preset {preset!r}; expected '' or 'cpu'")
    config = ml_collections.ConfigDict()
    config.name = "student"
    config.runs_dir = "runs"
    config.seed = 0
    config.teacher_dir = ""  # run directory of the teacher (experiments.train)
    config.teacher_step = -1  # the teacher's checkpoint to distil; negative: its latest

    # Filled from the teacher run at start-up (its environment and its policy's shape).
    config.env_name = ""
    config.env = ml_collections.ConfigDict()
    config.env.num_envs = -1  # > 0 overrides the teacher's env.num_envs
    # The student's observation noise (`env.noise`, replacing the teacher's: a privileged teacher never sees it).
    config.env.noise = env_factory.default_env_config("g1_tracking").noise
    # Goals that slide like a generated video's drifting camera, while the teacher's labels follow the clean motion:
    # the student learns not to chase the slide (noise-suite drift at 0.1 m/s over three noise seeds: 3-4 of the
    # teacher's 3 clips kept, 1-2 without it; benchmarks/RESULTS.md).
    config.env.noise.goal_drift_speed = 0.2
    # A wrongly proportioned goal body per episode (each bone x 1 + N(0, 0.1)), like a video's body-shape error: the
    # student learns that a hand or foot goal off its reach is no reason to move the whole body (noise suite at level
    # 0.1 over four noise seeds, three student seeds of one teacher: limb length kept the teacher's 7 clips in 11 of
    # 12 runs, all corruptions 131-132 clips of 140; twelve students without it, 100-120; benchmarks/RESULTS.md).
    config.env.noise.goal_bone_scale = 0.1
    # True: the student also observes its root's linear velocity, which on the robot a state estimator must give
    # (env.noise.base_lin_vel stands for its error); like env.noise, this replaces the teacher env's value.
    config.env.actor_base_lin_vel = False
    config.motion_dir = ""  # a non-empty value here overrides the teacher's motion set
    config.teacher = ml_collections.ConfigDict()

    config.network = ml_collections.ConfigDict()
    config.network.actor_hidden = (512, 256, 128)
    config.network.activation = "elu"

    config.dagger = ml_collections.ConfigDict()
    config.dagger.student_obs = "actor"
    config.dagger.num_updates = 500
    config.dagger.rollout_length = 24
    # DAgger's aggregated dataset: a FIFO ring on the device of the last this many rollouts (student
    # observations and teacher labels), sharded over devices with the envs; 1 = on-policy DAgger on the latest
    # rollout only. Memory: num_envs * dataset_rollouts * rollout_length * (actor obs + action size) floats
    # (G1 with these defaults: 335 kB per env, 1.4 GB for 4096 envs, split over the devices).
    config.dagger.dataset_rollouts = 4
    # Per update, num_epochs epochs of num_minibatches minibatches; an epoch draws one rollout's worth of
    # samples uniformly from the filled part of the ring (rollout_length a multiple of num_minibatches).
    config.dagger.num_epochs = 4
    config.dagger.num_minibatches = 4
    config.dagger.learning_rate = 5e-4
    # > 0: the rate falls linearly to final_learning_rate over this many updates, then stays (0: constant).
    config.dagger.lr_decay_updates = 0
    # > 0 (instead): it falls over this share of the time budget run.max_minutes, in training time, then stays.
    config.dagger.lr_decay_budget_share = 0.0
    config.dagger.final_learning_rate = 5e-5
    config.dagger.max_grad_norm = 1.0
    config.dagger.beta_initial = 1.0  # probability that the teacher acts, per env and step
    config.dagger.beta_decay = 0.95  # per update
    config.dagger.normalize_obs = True
    config.dagger.obs_clip = 10.0

    config.run = configs.train.run_config()
    return config


def cpu_recipe(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A student that learns from a CPU teacher within half an hour: the teacher's envs, fewer epochs, a time budget.

    Its learning rate decays over the first five sixths of the time budget (25 of 30 minutes), so that it ends near a
    fixed point on any machine: decayed over the first 2,500 of the ~3,000 updates half an hour gave on a fast 2-core
    CPU, students at three training seeds kept all the teacher's clips in 12, 8 and 10 of the noise suite's 20
    corruption-seed cells at level 0.1, against 10, 4 and 4 for the same seeds at a constant rate; a machine that
    fits 2,000 updates into the half hour never finished that decay (benchmarks/RESULTS.md).
    """
    config.network.actor_hidden = (256, 256, 128)
    config.dagger.num_updates = 100_000  # the time budget ends a CPU run
    config.dagger.num_epochs = 2
    config.dagger.beta_decay = 0.9
    config.dagger.lr_decay_budget_share = 5.0 / 6.0
    config.run.checkpoint_every_chunks = 10
    config.run.keep_checkpoints = 10
    config.run.max_minutes = 30.0
    return config
