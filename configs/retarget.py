"""Retargeting human motion to the G1 (`python -m experiments.retarget`)."""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    # Solver: Gauss-Newton steps tracking the targets, then with planted soles anchored; CG iterations per step.
    config.track_iterations = 4
    config.contact_iterations = 3
    config.cg_iterations = 8
    config.max_step = 1.0  # largest rotational change per step and frame (rad)
    # Per-frame line search (steps 1, 1/2, 1/4): with contact_iterations=6 it keeps the shared dance-short clip's
    # single-leg squat out of the floor (worst foot 20.7 -> 6.6 mm below it) for 1.6-1.9x the solve time
    # (benchmarks/RESULTS.md), so it is off by default.
    config.line_search = False
    config.min_bucket = 64  # padded lengths are min_bucket * {1, 1.25, 1.5, 1.75} * 2^k frames
    # A folder is solved in batches of clips packed and padded to this many frames (one compiled solve per run; a
    # longer clip is solved alone, padded to its bucket length).
    config.batch_frames = 8192
    config.scale_cache_dir = ""  # where fitted subject scales are kept as JSON ("" = memory only)

    # Poses held with the G1's centre of mass outside its feet (its mass sits otherwise than a human's): the upper
    # body's targets move over the support in every off-balance stretch held at least hold_seconds, and the batch is
    # solved again (`retarget.balance.hold_shift`; 0 turns it off). Steps and fast moves keep the human's motion.
    # 0.2 put the shared dance's 3 s toe touch over the flat foot; its teacher then followed the dance 10 s instead of
    # 5, not to its end (one seed, benchmarks/RESULTS.md), so it is off by default. On a folder of 1,000 windows cut
    # from the shared clips it costs 1.2-1.7x the wall time.
    config.balance = ml_collections.ConfigDict()
    config.balance.hold_seconds = 0.0
    config.balance.max_outside = 0.1  # m: a stretch further out (median) is a dynamic move, left as it is
    config.balance.max_speed = 0.25  # m/s: a centre of mass moving faster is not holding a pose
    config.balance.margin = 0.02  # m inside the support polygon
    config.balance.ramp_seconds = 0.2
    config.balance.gain = 1.25  # upper-body move per metre of centre-of-mass move
    config.balance.flat_feet_only = True  # a foot on its toe tip alone does not count as support

    # Dynamic balance: the upper body's targets shifted so the zero-moment point (where the floor must push) stays
    # over the feet, solved again `iterations` times (`retarget.balance.zmp_shift`; 0 turns it off). 4 takes the shared
    # kick's frames asking for a push outside the feet from 23% to 2% (dance: 49% to 14%) for 16 mm of pelvis error
    # instead of 5 (dance: 51 instead of 27), at 2.2-2.4x the retargeting time. A dance specialist trained on it
    # stopped where the plain one did, and the CPU recipe's hour on the nine filtered clips followed the same 7 as on
    # the plain ones, the kick lost as before (benchmarks/RESULTS.md), so it is off by default.
    config.dynamic_balance = ml_collections.ConfigDict()
    config.dynamic_balance.iterations = 0
    config.dynamic_balance.margin = 0.02  # m inside the support polygon
    config.dynamic_balance.max_step = 0.15  # m: the largest move of the centre of mass asked in one iteration
    config.dynamic_balance.gain = 1.25  # upper-body move per metre of centre-of-mass move
    # Tracking iterations of each re-solve, which starts from the previous solution (the contact iterations stay):
    # 1 gave the shared clips the same or smaller errors than re-solving from scratch, at 0.8x the time
    config.dynamic_balance.track_iterations = 1

    config.contact = ml_collections.ConfigDict()
    config.contact.height_margin = 0.05  # m above the joint's resting height
    config.contact.max_speed = 0.3  # m/s
    config.contact.min_frames = 3
    # m: the lowest apex of a foot's swing between two planted runs (`retarget.contact.swing_floor`); 0 keeps the
    # human's, who may skim or slide a loaded foot where the G1's soles grip. With 0.04 (the CPU recipe's clips,
    # README) teachers on the nine Bandai clips left the slash's lunges 54-87 mm off their path instead of 188-243
    # (two seeds, benchmarks/RESULTS.md), but the walks did not gain; off by default while the walks and the main
    # job's own clips are not measured with it.
    config.swing_clearance = 0.0

    # Residual weights: a 1 m keypoint error at weight 1 costs 1.
    config.weights = ml_collections.ConfigDict()
    config.weights.keypoint = 1.0
    config.weights.pelvis = 2.0
    config.weights.feet = 2.0  # ankles and toes
    config.weights.hands = 1.0  # wrists and hands
    config.weights.pelvis_orientation = 0.1  # per rad
    # Per rad of pelvis heading (its hip line) from the human's hip line. 1 puts the pelvis heading within 0.1 deg
    # of the human's on the Bandai clips (2.0 deg at 0); dance-short's worst foot then sank 19 -> 29 mm below the
    # floor (21 mm since joints on a limit are held out of the step; benchmarks/RESULTS.md).
    config.weights.heading = 1.0
    config.weights.rest = 0.02  # per rad from the default pose
    config.weights.rest_wrist = 0.1
    config.weights.limit = 1.0  # per rad inside the margin (the limits themselves are hard)
    config.weights.limit_margin = 0.02  # rad
    config.weights.velocity = 1e-3  # per m/s or rad/s
    config.weights.acceleration = 3e-4  # per m/s^2 or rad/s^2
    config.weights.plant_height = 30.0  # per m of planted sole height
    config.weights.plant_slide = 20.0  # per m of planted sole drift
    config.weights.ground = 30.0  # per m below the floor
    # Per m of a swing foot's corner height from the mean of its four, where `swing_clearance` raises its floor: the
    # floor then lifts a level sole (knee and hip) instead of tilting the foot off its lowest corner (0: the corners
    # keep the raised floor). 3 took the Bandai walks' swing-foot tilt from 73-79 mm to 13-14 mm (it also levels a
    # kick's pointed foot); a teacher on those clips followed the same clips as one without it at equal updates, with
    # the walk and slash closer and the walk-left lost (one seed, benchmarks/RESULTS.md), so it is off.
    config.weights.swing_level = 0.0
    config.weights.damping = 1e-4
    # Share of a robot shoulder's miss that moves its elbow/wrist/hand targets along (0: absolute targets). 1 keeps the
    # human's arm directions (upper arms 3.5 -> 2.2 deg on the Bandai clips) for hands ~6 mm further from the
    # absolute scaled targets (benchmarks/RESULTS.md).
    config.weights.arm_follow = 1.0
    return config
