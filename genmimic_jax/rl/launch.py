"""What the entry points run: teacher training and student distillation from a config, in a run directory."""

import pathlib

import ml_collections

from genmimic_jax import limits
from genmimic_jax.envs import physics_backends
from genmimic_jax.rl import dagger, distributed, env_factory, local_job, ppo, runner
from genmimic_jax.rl.policy import Policy, check_observation, load_policy

# Env keys that belong to the student's observation, not to the teacher's task: the distillation config's values
# replace the teacher env's (the privileged teacher observes neither).
STUDENT_ENV_KEYS = ("noise", "actor_base_lin_vel")


def check_num_envs(config: ml_collections.ConfigDict) -> None:
    """Refuses an environment count outside [limits.MIN_NUM_ENVS, limits.MAX_NUM_ENVS] before anything is built."""
    limits.check_range("--config.env.num_envs", "number of environments", config.env.num_envs, limits.MIN_NUM_ENVS,
                       limits.MAX_NUM_ENVS)


def train(config: ml_collections.ConfigDict) -> pathlib.Path:
    """Runs (or resumes) PPO in <runs_dir>/<name> as `config` (configs/train.py) says; returns the run directory."""
    check_num_envs(config)
    run_dir = pathlib.Path(config.runs_dir) / config.name
    if _spawned("train", config, config):
        return run_dir
    distributed.initialize(config.run)
    env = env_factory.make_env(config)
    runner.run(ppo.make_ppo(config, env), config, run_dir, config.ppo.num_updates, env.num_envs)
    return run_dir


def with_teacher(config: ml_collections.ConfigDict) -> tuple[ml_collections.ConfigDict, Policy]:
    """The distillation config completed from the teacher run (environment, teacher block), and the teacher."""
    if not config.teacher_dir:
        raise ValueError("--config.teacher_dir is required (a run directory of experiments.train)")
    saved = load_policy(config.teacher_dir, which="teacher",
                        step=None if config.get("teacher_step", -1) < 0 else config.teacher_step)
    teacher, teacher_config = saved.policy, saved.run_config
    if "ppo" not in teacher_config:
        raise ValueError(f"{config.teacher_dir}: not a teacher run of experiments.train")
    config = ml_collections.ConfigDict(config.to_dict())
    student_env = config.env
    config.env_name = teacher_config["env_name"]
    config.env = env_factory.stored_env_config(teacher_config["env_name"], teacher_config["env"])
    if student_env.num_envs > 0:
        config.env.num_envs = student_env.num_envs
    for key in STUDENT_ENV_KEYS:
        if key in config.env and key in student_env:
            config.env[key] = student_env[key]
    config.motion_dir = config.motion_dir or teacher_config["motion_dir"]
    config.teacher = ml_collections.ConfigDict({
        "run_dir": str(config.teacher_dir), "step": saved.step, "actor_obs": teacher.obs_key,
        "obs_clip": teacher.obs_clip,
        "network": {"actor_hidden": list(teacher.hidden_sizes), "activation": teacher.activation}})
    return config, teacher


def distill(config: ml_collections.ConfigDict) -> pathlib.Path:
    """Runs (or resumes) DAgger as `config` (configs/distill.py) says; returns the run directory."""
    run_dir = pathlib.Path(config.runs_dir) / config.name
    if config.run.local_processes != 1 and not config.run.distributed:
        complete, _ = with_teacher(config)  # the teacher's env decides the back end and the env count
        check_num_envs(complete)
        if _spawned("distill", config, complete):
            return run_dir
    distributed.initialize(config.run)
    config, teacher = with_teacher(config)
    check_num_envs(config)
    env = env_factory.make_env(config)
    check_observation(teacher, env.observation_size, config.teacher.run_dir)
    runner.run(dagger.make_dagger(config, env, teacher), config, run_dir, config.dagger.num_updates, env.num_envs)
    return run_dir


def _spawned(entry: str, given: ml_collections.ConfigDict, complete: ml_collections.ConfigDict) -> bool:
    """Runs the job as local processes (`local_job`) when `run.local_processes` asks for several; False if this
    process should train itself (a single-process run, or a worker of a multi-process one)."""
    if given.run.distributed:
        return False
    backend = physics_backends.resolve(complete.env.physics) if "physics" in complete.env else "mjx"
    processes = local_job.resolve_processes(complete, backend)
    if processes == 1:
        return False
    local_job.spawn(entry, given, processes)
    return True
