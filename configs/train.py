"""Teacher training: PPO on privileged observations with the symmetry loss.

    python -m experiments.train --config=configs/train.py:g1_tracking --config.name=teacher \
        --config.motion_dir=retargeted/ --config.env.num_envs=4096

The part after ':' picks the environment ('g1_tracking' by default, or the tiny 'toy' task) or the CPU recipe
('g1_cpu': `cpu_recipe`, what a CPU should train with); an empty motion_dir tracks the built-in synthetic
standing/arm-waving clip.

    python -m experiments.train --config=configs/train.py:g1_cpu --config.motion_dir=retargeted/ \
        --config.run.max_minutes=60
"""

import ml_collections

from genmimic_jax.rl import env_factory


def get_config(env_name: str = "g1_tracking") -> ml_collections.ConfigDict:
    if env_name == "g1_cpu":
        return cpu_recipe(get_config("g1_tracking"))
    config = ml_collections.ConfigDict()
    config.name = "teacher"  # the run directory is <runs_dir>/<name>
    config.runs_dir = "runs"
    config.seed = 0

    config.env_name = env_name  # 'toy' | 'g1_tracking'
    config.env = env_factory.default_env_config(env_name)
    config.motion_dir = ""  # folder of retargeted .npz clips (g1_tracking); empty: the built-in clip

    config.network = ml_collections.ConfigDict()
    config.network.actor_hidden = (512, 256, 128)
    config.network.critic_hidden = (512, 256, 128)
    config.network.activation = "elu"
    # Std 1 is a quarter of each G1 joint's torque limit of noise (constants.ACTION_SCALE): the robot explores
    # without toppling.
    config.network.init_log_std = 0.0

    config.ppo = ml_collections.ConfigDict()
    config.ppo.actor_obs = "privileged"  # teacher; 'actor' trains a deployable policy directly
    config.ppo.num_updates = 1000
    config.ppo.rollout_length = 24
    config.ppo.num_epochs = 5
    config.ppo.num_minibatches = 4
    config.ppo.discount = 0.99
    config.ppo.gae_lambda = 0.95
    config.ppo.clip_eps = 0.2
    config.ppo.clip_value = True
    config.ppo.value_coef = 1.0
    config.ppo.entropy_coef = 0.005
    config.ppo.max_grad_norm = 1.0
    config.ppo.learning_rate = 1e-3
    config.ppo.lr_schedule = "adaptive_kl"  # 'constant' | 'linear' | 'adaptive_kl'
    config.ppo.desired_kl = 0.01
    config.ppo.min_learning_rate = 1e-5
    config.ppo.max_learning_rate = 1e-2
    config.ppo.normalize_advantages = True
    config.ppo.normalize_obs = True
    config.ppo.obs_clip = 10.0

    config.symmetry = ml_collections.ConfigDict()
    config.symmetry.actor_coef = 1.0  # L_SYM on the actor mean
    config.symmetry.critic_coef = 0.0  # (V(T_s s) - V(s))^2
    config.symmetry.augment = False  # mirrored-data augmentation of every batch

    config.run = run_config()
    return config


def quick_g1_run(config: ml_collections.ConfigDict, num_updates: int = 60) -> ml_collections.ConfigDict:
    """Turns a g1_tracking config into a run that learns the built-in clip visibly in minutes on a CPU (64 envs).

    Smaller networks and less exploration noise, a constant learning rate (the adaptive-KL rule keeps the step tiny
    at small std), servo targets around the default pose and a tighter keypoint-error termination, so that a policy
    that does not follow the motion fails early. Suits the built-in clip only: on a real walk its termination
    ends every episode within 0.2 s (benchmarks/RESULTS.md).
    """
    config.env.num_envs = 64
    config.env.action_offset = "default_pose"
    config.env.push.enabled = False
    config.env.termination.max_keypoint_error = 0.1
    config.network.actor_hidden = config.network.critic_hidden = (128, 128)
    config.network.init_log_std = -1.0
    config.ppo.num_updates = num_updates
    config.ppo.rollout_length = 24
    config.ppo.lr_schedule = "constant"
    config.ppo.learning_rate = 3e-4
    return config


def cpu_recipe(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Turns a g1_tracking config into the recipe that learns real clips on a CPU within an hour (C MuJoCo physics).

    The teacher's servo targets are offsets from the reference joints (action 0 plays the clip back), so exploration
    starts from the motion instead of from standing; a few hundred envs, mid-sized networks and fewer epochs keep
    the learning cost near the physics cost; no pushes and the nominal robot (without domain randomisation the
    same samples follow 1.2-1.6x the frames of the nine Bandai clips, benchmarks/RESULTS.md); adaptive starts within
    each clip, each clip keeping its weight's share of the starts (so that a long clip's many failing bins do not
    take the short clips' starts), a fifth of them at a clip's first frame, standing, where the evaluation and the
    robot begin it (the hour's teachers then followed both walks at 44-48 mm, seed 0, 38-51 mm, seed 1, and 29-34 mm,
    seed 2, and 7 of the nine Bandai clips at each of the three seeds; three seed-0 teachers without it fell 0.1 m
    behind the walk-left's reference by 0.4 s, two of them losing it; the seed-2 teacher's two students kept its 7
    clips in 20 and 19 of the noise suite's 20 level-0.1 cells).
    `env.motion.clip_failure_share=0.5` gives half of each share by failures instead: a teacher that followed the kick
    in one seed of two, but walks 35-40 mm less precisely, and its student followed 5 of the nine Bandai clips where
    the default's followed 7; with this recipe (seed 2, 22 M env steps) it took the kick to 430 of its 597 frames,
    not to its end, and the walks 2-3x further from the path (benchmarks/RESULTS.md).
    `env.reward.weights.center_of_mass=0.5` gave a teacher that followed the same 7 clips 22% closer (walks 30 mm
    instead of 40), but its student lost both walks (5/9). For hardware, train longer with
    `--config.env.randomization.enabled=True`. Every choice is a key, so a GPU run can take any of them.
    """
    config.env.physics = "auto"
    config.env.num_envs = 256
    config.env.action_offset = "reference"
    config.env.push.enabled = False
    config.env.randomization.enabled = False
    config.env.motion.sampling = "adaptive_per_clip"
    config.env.motion.clip_failure_share = 0.0
    config.env.motion.first_frame_share = 0.2
    config.network.actor_hidden = config.network.critic_hidden = (256, 128)
    config.network.init_log_std = -0.5
    config.ppo.num_updates = 100_000  # the time budget ends a CPU run
    config.ppo.rollout_length = 24
    config.ppo.num_epochs = 3
    config.ppo.num_minibatches = 4
    config.run.updates_per_chunk = 10
    config.run.checkpoint_every_chunks = 10
    config.run.keep_checkpoints = 20
    config.run.max_minutes = 60.0
    return config


def run_config() -> ml_collections.ConfigDict:
    """How a training run is chunked, checkpointed and distributed (shared by teacher and student runs)."""
    run = ml_collections.ConfigDict()
    run.updates_per_chunk = 10  # one jitted call; metrics are logged and checkpoints taken between calls
    run.checkpoint_every_chunks = 5
    run.keep_checkpoints = 3
    run.max_minutes = 0.0  # wall-clock budget of one launch (checkpointed at the end; run again to go on); 0: none
    # A new run may start from another run's checkpoint (its whole training state, update count included) and go on
    # under this config: a curriculum stage (e.g. a tighter termination bound) or a longer run of changed settings.
    # It needs that run's shapes (motion set, env count, networks). Empty: a fresh start. Ignored once this run has
    # checkpoints of its own.
    run.init_from = ""  # that run's directory
    run.init_step = -1  # its checkpoint to start from; negative: its latest
    # Take only its network weights and observation normaliser (a fresh optimiser, update count and start statistics),
    # so that it may have trained on another motion set: e.g. a specialist of a hard clip warm-starts the whole set.
    run.init_weights_only = False
    # Train as this many processes of this machine, data-parallel, one JAX device and a share of the cores each
    # (`genmimic_jax.rl.local_job`); 0: one per core with C MuJoCo physics, at least 64 envs each. On 2 cores two
    # processes train slower than one (benchmarks/RESULTS.md): their collectives cost more than the second core gives.
    run.local_processes = 1
    run.distributed = False  # multi-host: jax.distributed.initialize() before anything else
    run.coordinator_address = ""  # host:port of process 0; empty: detected from the cluster
    run.num_processes = -1  # negative: detected
    run.process_id = -1  # negative: detected
    return run
