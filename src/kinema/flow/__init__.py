"""Flow matching: the path (``path``), where to train and sample (``schedule``), solvers (``sampler``).

The convention (``t = 0`` data, ``t = 1`` noise, ``v = noise - x0``) is written once, in
``kinema.flow.path``.
"""

from kinema.flow.path import (
    apply_conditioning,
    contrast_nll,
    frame_times,
    interpolate,
    masked_mse,
    motion_mse,
    predict_noise,
    predict_x0,
    sample_mse,
    velocity_target,
)
from kinema.flow.sampler import ModelFn, Solver, cfg_velocity, denoise, get_noise, guided, sdedit_start
from kinema.flow.schedule import (
    COND_KINDS,
    CondMaskConfig,
    default_shift,
    get_schedule,
    resolution_shift,
    sample_cond_mask,
    sample_times,
    shift_time,
)
from kinema.flow.windows import plan_windows

__all__ = [
    "COND_KINDS",
    "CondMaskConfig",
    "ModelFn",
    "Solver",
    "apply_conditioning",
    "cfg_velocity",
    "contrast_nll",
    "default_shift",
    "denoise",
    "frame_times",
    "get_noise",
    "get_schedule",
    "guided",
    "interpolate",
    "masked_mse",
    "motion_mse",
    "plan_windows",
    "predict_noise",
    "predict_x0",
    "resolution_shift",
    "sample_cond_mask",
    "sample_mse",
    "sample_times",
    "sdedit_start",
    "shift_time",
    "velocity_target",
]
