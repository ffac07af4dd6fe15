"""genmimic_jax: human motion from (generated) video to physically plausible Unitree G1 trajectories.

Pipeline, one subpackage per stage:
  human     -> canonical 4D-human trajectories (BVH, SMPL/SMPL-X, raw keypoints) and a JAX body model
  robot     -> the Unitree G1 (29 DoF) model and its constants
  retarget  -> differentiable whole-trajectory retargeting of human motion to the G1
  envs      -> the vectorised MJX motion-tracking environment
  rl        -> PPO teacher with the symmetry loss, DAgger student
  eval      -> metrics, rollouts and the generated-video noise suite
  export    -> ONNX export and sim-to-sim checks
  viz       -> rendering and plots
"""

__version__ = "0.1.0"
