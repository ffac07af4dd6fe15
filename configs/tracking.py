"""Default configuration of the G1 motion-tracking environment (`genmimic_jax.envs.tracking.TrackingEnv`)."""

import ml_collections


def default_config() -> ml_collections.ConfigDict:
    """Every knob of the tracking environment; an ablation is a change here."""
    config = ml_collections.ConfigDict()
    config.num_envs = 1024
    config.ctrl_dt = 0.02  # 50 Hz control
    config.substeps = 4  # physics steps per control step (ctrl_dt / model timestep)
    config.episode_length = 500  # control steps; an episode also ends at the end of its clip
    config.history_length = 5  # past proprio frames in the actor observation
    config.goal_offsets = (0, 1, 2, 5, 10)  # goal keypoint frames, in control steps ahead of the current one

    config.motion = ml_collections.ConfigDict()
    config.motion.sampling = "adaptive"  # "uniform" or "adaptive" (per-bin failure counts)
    config.motion.bin_seconds = 1.0
    config.motion.uniform_ratio = 0.1  # share of adaptive starts drawn from the clip weights
    config.motion.failure_decay = 0.999  # per control step decay of the failure counts

    config.reward = ml_collections.ConfigDict()
    config.reward.weights = ml_collections.ConfigDict({
        "keypoint_position": 1.0,
        "keypoint_velocity": 0.5,
        "root_orientation": 0.5,
        "root_height": 0.25,
        "joint_position": 0.5,
        "action_rate": -0.1,
        "joint_limit": -10.0,
        "torque": -0.01,
        "undesired_contacts": -0.1,
        "feet_slip": -0.1,
        "termination": -50.0,
    })
    config.reward.sigmas = ml_collections.ConfigDict({
        "keypoint_position": 0.2,  # m
        "keypoint_velocity": 1.0,  # m/s
        "root_orientation": 0.4,  # rad
        "root_height": 0.1,  # m
        "joint_position": 0.5,  # rad
    })
    # GenMimic's keypoint weighting: end effectors > upper body > lower body (constants.KEYPOINT_GROUPS).
    config.reward.keypoint_group_weights = ml_collections.ConfigDict({
        "end_effector": 2.0, "upper": 1.0, "lower": 0.5})
    config.reward.soft_joint_limit = 0.9  # fraction of the joint range free of the limit penalty
    config.reward.foot_contact_force = 5.0  # N; a foot pressing harder counts as planted for feet_slip

    config.termination = ml_collections.ConfigDict()
    config.termination.max_gravity_error = 0.8  # |projected gravity z - reference's|
    config.termination.max_height_error = 0.25  # m, root height from the reference's
    config.termination.max_keypoint_error = 0.3  # m, mean keypoint distance
    config.termination.max_anchor_error = 0.5  # m, root distance

    # Uniform noise U(-s, s) on the actor's observation (the privileged observation stays clean).
    config.noise = ml_collections.ConfigDict()
    config.noise.projected_gravity = 0.05
    config.noise.base_ang_vel = 0.2
    config.noise.joint_pos = 0.01
    config.noise.joint_vel = 0.5
    config.noise.goal_keypoints = 0.02  # m

    config.randomization = ml_collections.ConfigDict()
    config.randomization.enabled = True  # per-env physics parameters; False runs the nominal model
    config.randomization.friction_range = (0.5, 1.25)
    config.randomization.mass_scale_range = (0.9, 1.1)
    config.randomization.com_offset = 0.03  # m, torso centre of mass, per axis
    config.randomization.armature_scale_range = (0.8, 1.2)
    config.randomization.kp_scale_range = (0.9, 1.1)
    config.randomization.kd_scale_range = (0.9, 1.1)
    config.randomization.strength_range = (0.9, 1.1)
    config.randomization.max_action_delay = 1  # control steps, drawn per episode in [0, max]

    config.push = ml_collections.ConfigDict()
    config.push.enabled = True
    config.push.interval_range = (1.0, 3.0)  # s between kicks
    config.push.linear_velocity = 0.5  # m/s, horizontal, per axis
    config.push.angular_velocity = 0.5  # rad/s, yaw rate
    return config


def get_config() -> ml_collections.ConfigDict:
    """Entry point for `config_flags.DEFINE_config_file`."""
    return default_config()
