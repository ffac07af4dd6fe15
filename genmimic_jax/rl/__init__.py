"""Learning: the PPO teacher with the left/right symmetry loss, and the DAgger student.

  ppo, dagger      -> the learners, each a pure `init`/`update` pair (`algorithm.Algorithm`)
  runner           -> `runner.run`, the one way to train a learner: jitted chunks of updates with logs,
                      checkpoints and exact resume, over a device mesh
  policy           -> `make_inference_fn` (how every policy acts), the frozen `Policy`, `load_policy`
  networks         -> flax MLPs, the activation table, the diagonal Gaussian
  symmetry         -> the mirror losses (mirror maps: `genmimic_jax.envs.mirror`)
  rollout          -> `lax.scan` rollouts with episode statistics
  normalization    -> running observation statistics
  distributed, checkpointing, metrics_log -> the runner's pieces (metrics_log: TensorBoard event files, stdout lines)
  env_factory, launch -> what the train and distill entry points run (`launch.train`, `launch.distill`)
  toy_env          -> a tiny symmetric tracking task with the tracking env's interface (test/benchmark fixture)
"""
