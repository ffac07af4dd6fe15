"""Learning: the PPO teacher with the left/right symmetry loss, and the DAgger student.

  ppo, dagger      -> the learners, each a pure `init`/`update` pair (`algorithm.Algorithm`) and one
                      jittable `make_train` / `make_distill`
  networks         -> flax MLPs and the diagonal Gaussian policy
  symmetry         -> the mirror losses (mirror maps: `genmimic_jax.envs.mirror`)
  rollout          -> `lax.scan` rollouts with episode statistics
  normalization    -> running observation statistics
  runner           -> jitted chunks of updates with logging, checkpoints and exact resume, over a device mesh
  distributed, checkpointing, metrics_log -> the pieces the runner uses (metrics_log: TensorBoard event files, stdout lines)
  env_factory, launch -> what the train and distill entry points run (`launch.train`, `launch.distill`)
  toy_env          -> a tiny symmetric tracking task with the tracking env's interface (test/benchmark fixture)
"""
