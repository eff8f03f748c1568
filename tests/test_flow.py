"""Flow matching: path endpoints and identities, schedules and shifts, masks, solvers, guidance, noise."""

from __future__ import annotations

import math

import pytest
import torch

from kinema.config import from_dict
from kinema.errors import ConfigError, KinemaError
from kinema.flow import (
    COND_KINDS,
    CondMaskConfig,
    apply_conditioning,
    cfg_velocity,
    contrast_nll,
    denoise,
    frame_times,
    get_noise,
    get_schedule,
    guided,
    interpolate,
    masked_mse,
    motion_mse,
    predict_noise,
    predict_x0,
    resolution_shift,
    sample_cond_mask,
    sample_mse,
    sample_times,
    sdedit_start,
    shift_time,
    velocity_target,
)

SHAPE = (2, 3, 4, 5, 6)  # (B, C, F, h, w)


def _pair(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(SHAPE, generator=g), torch.randn(SHAPE, generator=g)


# --------------------------------------------------------------------------- path


def test_interpolate_endpoints_are_exact():
    x0, noise = _pair()
    assert torch.equal(interpolate(x0, noise, 0.0), x0)
    assert torch.equal(interpolate(x0, noise, 1.0), noise)
    assert torch.equal(interpolate(x0, noise, torch.zeros(2)), x0)
    assert torch.equal(interpolate(x0, noise, torch.ones(2, 4)), noise)


def test_velocity_target_recovers_x0_and_noise():
    x0, noise = _pair()
    v = velocity_target(x0, noise)
    torch.testing.assert_close(v, noise - x0)
    time = torch.tensor([[0.1, 0.4, 0.7, 0.95], [0.3, 0.5, 0.2, 0.8]])  # (B, F)
    for t in (0.37, torch.tensor([0.2, 0.9]), time):
        xt = interpolate(x0, noise, t)
        torch.testing.assert_close(predict_x0(xt, v, t), x0, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(predict_noise(xt, v, t), noise, atol=1e-5, rtol=1e-5)


def test_per_frame_time_broadcast():
    x0, noise = _pair()
    per_sample = torch.tensor([0.25, 0.75])
    per_frame = per_sample[:, None].expand(2, 4)
    a, b = interpolate(x0, noise, per_sample), interpolate(x0, noise, per_frame)
    assert a.shape == b.shape == SHAPE
    torch.testing.assert_close(a, b)
    # frame f of sample i uses time[i, f]
    time = torch.rand(2, 4, generator=torch.Generator().manual_seed(1))
    xt = interpolate(x0, noise, time)
    for i in range(2):
        for f in range(4):
            t = time[i, f]
            torch.testing.assert_close(xt[i, :, f], (1 - t) * x0[i, :, f] + t * noise[i, :, f])
    with pytest.raises(KinemaError):
        interpolate(x0, noise, torch.zeros(2, 3))  # wrong frame count
    with pytest.raises(KinemaError):
        interpolate(x0, noise, torch.zeros(3))  # wrong batch


def test_half_precision_keeps_dtype():
    x0, noise = _pair()
    xt = interpolate(x0.bfloat16(), noise.bfloat16(), torch.tensor([0.3, 0.6]))
    assert xt.dtype == torch.bfloat16


def test_apply_conditioning_and_frame_times():
    x0, noise = _pair()
    mask = torch.tensor([[True, False, False, False], [False, False, True, True]])
    out = apply_conditioning(noise, x0, mask)
    assert torch.equal(out[0, :, 0], x0[0, :, 0]) and torch.equal(out[0, :, 1:], noise[0, :, 1:])
    assert torch.equal(out[1, :, 2:], x0[1, :, 2:]) and torch.equal(out[1, :, :2], noise[1, :, :2])
    times = frame_times(torch.tensor([0.5, 0.75]), mask)
    assert times.shape == (2, 4)
    assert times.tolist() == [[0.0, 0.5, 0.5, 0.5], [0.75, 0.75, 0.0, 0.0]]
    assert frame_times(0.5, mask).shape == (2, 4)


def test_masked_mse_ignores_given_frames():
    x0, noise = _pair()
    mask = torch.tensor([[True, False, False, False], [False, False, True, True]])
    pred = noise.clone()
    pred[mask[:, None, :, None, None].expand(SHAPE)] = 1e6  # garbage on the given frames only
    assert masked_mse(pred, noise, mask).item() == 0.0
    pred = noise + 2.0
    assert masked_mse(pred, noise, mask).item() == pytest.approx(4.0)
    assert masked_mse(pred, noise).item() == pytest.approx(4.0)
    # the mean is over generated frames: an error on one generated frame weighs 1/5 of the 5 frames
    pred = noise.clone()
    pred[0, :, 1] += 1.0
    assert masked_mse(pred, noise, mask).item() == pytest.approx(1 / 5)


def test_sample_mse_is_masked_mse_per_sample():
    x0, noise = _pair()
    mask = torch.tensor([[True, False, False, False], [False, False, False, False]])
    pred = noise.clone()
    pred[0] += 1e6 * mask[0, None, :, None, None]  # garbage on sample 0's given frame only
    pred[0, :, 1] += 3.0  # sample 0: one of its 3 generated frames off by 3
    pred[1] += 2.0  # sample 1: every frame off by 2
    per = sample_mse(pred, noise, mask)
    assert per.shape == (2,) and per.tolist() == pytest.approx([3.0, 4.0])
    assert sample_mse(pred[1:], noise[1:]).item() == pytest.approx(masked_mse(pred[1:], noise[1:]).item())
    b, _, f, h, w = x0.shape
    wt = torch.ones(b, f, h, w)
    wt[1, 0] = 4.0  # sample 1's first frame counts 4 times: its errors are all equal, so its mean stays 4
    assert sample_mse(pred, noise, mask, wt)[1].item() == pytest.approx(4.0)
    pred[1, :, 0] += 1.0  # now that frame is off by 3 (error 9) and weighs 4 of 7 frame-weights
    assert sample_mse(pred, noise, mask, wt)[1].item() == pytest.approx((4 * 9 + 3 * 4) / 7)
    assert sample_mse(noise, noise, torch.ones(2, 4, dtype=torch.bool)).tolist() == [0.0, 0.0]  # all given: 0


def test_contrast_nll_rewards_telling_the_captions_apart():
    same = torch.tensor([0.5, 0.2])
    assert contrast_nll(same, same.clone(), 0.1).item() == pytest.approx(math.log(2))  # no difference: chance
    better = contrast_nll(same, same * 1.5, 0.1).item()  # the alternative caption explains x_t worse
    worse = contrast_nll(same, same * 0.5, 0.1).item()
    assert better < 0.01 < math.log(2) < worse  # 50% worse at temp 0.1: softplus(-5) = 0.0067
    assert better == pytest.approx(math.log1p(math.exp(-5.0)), rel=1e-5)
    # the gradient lowers the true caption's error and raises the alternative's; it fades when satisfied
    e_true, e_alt = same.clone().requires_grad_(), same.clone().requires_grad_()
    contrast_nll(e_true, e_alt, 0.1).backward()
    assert (e_true.grad > 0).all() and (e_alt.grad < 0).all()
    e_alt2 = (same * 3).requires_grad_()
    contrast_nll(same, e_alt2, 0.1).backward()
    assert e_alt2.grad.abs().max() < 1e-3 * e_alt.grad.abs().min()  # a 200% gap: nothing left to push
    assert contrast_nll(torch.zeros(0), torch.zeros(0), 0.1).item() == 0.0
    with pytest.raises(KinemaError, match="temp"):
        contrast_nll(same, same, 0.0)
    with pytest.raises(KinemaError, match="error vectors"):
        contrast_nll(same, same[:1], 0.1)


def test_motion_mse_costs_only_errors_that_change_between_frames():
    x0, noise = _pair()  # (2, C, 4, h, w)
    steady = noise + 2.0  # the same error in every frame: a wrong but still picture
    assert motion_mse(steady, noise).item() == pytest.approx(0.0, abs=1e-9) and masked_mse(steady, noise).item() > 3
    jump = noise.clone()
    jump[:, :, 2:] += 1.0  # the error changes once, between frames 1 and 2 (of 3 pairs)
    assert motion_mse(jump, noise).item() == pytest.approx(1 / 3)
    # pairs touching a given frame are left out; their garbage costs nothing
    mask = torch.tensor([[False, False, True, False], [False, False, True, False]])
    jump[:, :, 2] += 1e6
    assert motion_mse(jump, noise, mask).item() == pytest.approx(0.0, abs=1e-9)  # only pair (0, 1) is left
    jump[:, :, 1] += 3.0
    assert motion_mse(jump, noise, mask).item() == pytest.approx(9.0)
    # a weight counts each pair with the mean of its frames' weights
    b, _, f, h, w = x0.shape
    err = noise.clone()
    err[:, :, 1:] += 1.0  # only pair (0, 1) changes
    wt = torch.ones(b, f, h, w)
    wt[:, 0] = 3.0  # pair (0, 1) weighs 2, the others 1
    assert motion_mse(err, noise, None, wt).item() == pytest.approx(2 / 4)
    assert motion_mse(noise[:, :, :1], noise[:, :, :1] + 5).item() == 0.0  # one frame: nothing to compare
    with pytest.raises(KinemaError, match="weight"):
        motion_mse(err, noise, None, wt[:, 1:])


# --------------------------------------------------------------------------- schedule


def test_schedule_endpoints_monotone_length():
    for shift in (1.0, 3.0):
        s = get_schedule(10, shift=shift)
        assert len(s) == 11 and s[0] == 1.0 and s[-1] == 0.0
        assert all(a > b for a, b in zip(s, s[1:], strict=False))
    assert get_schedule(4) == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])


def test_shift_keeps_more_steps_at_high_noise():
    plain, shifted = get_schedule(20), get_schedule(20, shift=3.0)
    assert sum(s > 0.5 for s in shifted) > sum(s > 0.5 for s in plain)
    assert all(b >= a for a, b in zip(plain, shifted, strict=True))
    assert shift_time(0.0, 3.0) == 0.0 and shift_time(1.0, 3.0) == 1.0
    assert shift_time(0.5, 3.0) == pytest.approx(0.75)


def test_resolution_shift_grows_with_tokens():
    values = [resolution_shift(n) for n in (64, 256, 1024, 4096, 16384)]
    assert all(b > a for a, b in zip(values, values[1:], strict=False))
    assert resolution_shift(256) == pytest.approx(math.exp(0.5))
    assert resolution_shift(4096) == pytest.approx(math.exp(1.15))


def test_sample_times_range_and_determinism():
    t1 = sample_times(512, generator=torch.Generator().manual_seed(3))
    t2 = sample_times(512, generator=torch.Generator().manual_seed(3))
    t3 = sample_times(512, generator=torch.Generator().manual_seed(4))
    assert t1.shape == (512,) and t1.dtype == torch.float32
    assert torch.equal(t1, t2) and not torch.equal(t1, t3)
    assert bool(((t1 > 0) & (t1 < 1)).all())
    shifted = sample_times(512, generator=torch.Generator().manual_seed(3), shift=3.0)
    assert shifted.mean() > t1.mean()
    torch.testing.assert_close(shifted, shift_time(t1, 3.0))


def test_cond_masks_all_kinds_never_all_frames():
    g = torch.Generator().manual_seed(0)
    mask = sample_cond_mask(256, 5, generator=g, probs=CondMaskConfig())
    assert mask.shape == (256, 5) and mask.dtype == torch.bool
    assert not bool(mask.all(dim=1).any())
    patterns = {tuple(row) for row in mask.tolist()}
    assert (False,) * 5 in patterns  # none
    assert (True, False, False, False, False) in patterns  # first (or first_k with k=1)
    assert (True, True, False, False, False) in patterns  # first_k
    assert (False, False, False, True, True) in patterns  # last
    assert (True, False, False, False, True) in patterns  # first_last
    # each kind alone gives its own pattern
    expect = {
        "none": lambda r: not any(r),
        "first": lambda r: r == [True] + [False] * 4,
        "first_k": lambda r: 1 <= sum(r) <= 4 and r == sorted(r, reverse=True),
        "last": lambda r: 1 <= sum(r) <= 4 and r == sorted(r),
        "first_last": lambda r: r == [True, False, False, False, True],
    }
    for kind in COND_KINDS:
        probs = CondMaskConfig(**{f"p_{k}": float(k == kind) for k in COND_KINDS})
        rows = sample_cond_mask(32, 5, generator=g, probs=probs).tolist()
        assert all(expect[kind](r) for r in rows), kind
    # one frame: nothing can be given; two frames: first_last is impossible and falls away
    assert not sample_cond_mask(16, 1, generator=g, probs=CondMaskConfig()).any()
    two = sample_cond_mask(64, 2, generator=g, probs=CondMaskConfig(p_none=0, p_first=0, p_first_k=0, p_last=0))
    assert not two.any()
    both = sample_cond_mask(64, 2, generator=g, probs=CondMaskConfig())
    assert not bool(both.all(dim=1).any())


def test_cond_mask_config_is_checked():
    with pytest.raises(ConfigError):
        CondMaskConfig(p_first=-0.1)
    with pytest.raises(ConfigError):
        CondMaskConfig(p_none=0, p_first=0, p_first_k=0, p_last=0, p_first_last=0)
    assert from_dict(CondMaskConfig, {"p_last": 1}).p_last == 1.0


def test_cond_masks_deterministic():
    a = sample_cond_mask(64, 6, generator=torch.Generator().manual_seed(9), probs=CondMaskConfig())
    b = sample_cond_mask(64, 6, generator=torch.Generator().manual_seed(9), probs=CondMaskConfig())
    assert torch.equal(a, b)


# --------------------------------------------------------------------------- noise


def test_get_noise_seeded():
    a = get_noise(SHAPE, seed=7)
    assert a.shape == SHAPE and a.dtype == torch.float32
    assert torch.equal(a, get_noise(SHAPE, seed=7))
    assert not torch.equal(a, get_noise(SHAPE, seed=8))
    assert torch.equal(a, get_noise(SHAPE, generator=torch.Generator().manual_seed(7)))
    assert torch.equal(get_noise(SHAPE, seed=7, dtype=torch.bfloat16), a.bfloat16())
    with pytest.raises(KinemaError):
        get_noise(SHAPE)
    with pytest.raises(KinemaError):
        get_noise(SHAPE, seed=1, generator=torch.Generator())


# --------------------------------------------------------------------------- solvers


def test_one_euler_step_on_straight_path_recovers_x0():
    x0, noise = _pair()
    v = velocity_target(x0, noise)
    out = denoise(lambda x, t: v, noise, [1.0, 0.0])
    torch.testing.assert_close(out, x0, atol=1e-6, rtol=0)
    for solver in ("heun", "midpoint"):  # a constant field is integrated exactly by every solver
        torch.testing.assert_close(denoise(lambda x, t: v, noise, get_schedule(3), solver=solver), x0)


def test_heun_and_midpoint_beat_euler_on_linear_ode():
    a = 1.5  # dx/dt = a·x, integrated from t=1 to t=0: x(0) = x(1)·exp(-a)
    x1 = torch.ones(1, 1, 1, 1, 1, dtype=torch.float64)
    exact = math.exp(-a)
    schedule = get_schedule(20)

    def err(solver: str, steps: list[float] = schedule) -> float:
        return abs(denoise(lambda x, t: a * x, x1, steps, solver=solver).item() - exact)

    e_euler, e_heun, e_mid = err("euler"), err("heun"), err("midpoint")
    assert e_heun < e_euler / 10 and e_mid < e_euler / 10
    # second order: halving the step size divides the error by about 4
    assert err("heun", get_schedule(40)) < e_heun / 3


def test_given_frames_held_exactly_and_at_time_zero():
    x0, noise = _pair()
    mask = torch.tensor([[True, False, False, False], [False, False, False, True]])
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def model(x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        calls.append((x.clone(), time.clone()))
        return 0.3 * x + 1.0  # nonzero velocity everywhere, given frames included

    steps: list[int] = []
    schedule = get_schedule(4, shift=2.0)
    for solver in ("euler", "heun", "midpoint"):
        calls.clear()
        out = denoise(model, noise, schedule, solver=solver, cond_latents=x0, cond_mask=mask,
                      callback=lambda i, x: steps.append(i))
        given = mask[:, None, :, None, None].expand(SHAPE)
        assert torch.equal(out[given], x0[given])
        assert calls
        for x, time in calls:
            assert time.shape == (2, 4) and time.dtype == torch.float32
            assert torch.equal(x[given], x0[given])
            assert bool((time[mask] == 0).all()) and bool((time[~mask] > 0).all())
        assert not torch.equal(out[~given], noise[~given])
    assert calls[0][1][~mask].eq(1.0).all()
    assert steps[:4] == [0, 1, 2, 3]


def test_denoise_validates_inputs():
    x = torch.zeros(SHAPE)
    with pytest.raises(KinemaError):
        denoise(lambda x, t: x, x, [0.0, 1.0])  # wrong direction
    with pytest.raises(KinemaError):
        denoise(lambda x, t: x, x, [1.0, 0.0], cond_mask=torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(KinemaError):
        denoise(lambda x, t: x, x, [1.0, 0.0], solver="rk4")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- guidance


def _batched_model(calls: list[int]):
    def model(x: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        calls.append(x.shape[0])
        half = SHAPE[0]
        sign = torch.ones(x.shape[0])
        sign[half:] = -0.5  # rows past the first B play "unconditional"
        return x * sign[:, None, None, None, None] + time.mean()

    return model


def test_guidance_one_is_the_conditional_pass_alone():
    x, _ = _pair()
    time = torch.full((2, 4), 0.6)
    calls: list[int] = []
    model = _batched_model(calls)
    out = guided(model, 1.0)(x, time)
    assert calls == [2]  # one un-doubled forward
    assert torch.equal(out, model(x, time))


def test_guidance_combines_cond_and_uncond_in_one_forward():
    x, _ = _pair()
    time = torch.full((2, 4), 0.6)
    calls: list[int] = []
    model = _batched_model(calls)
    g = 4.0
    out = cfg_velocity(model, x, time, g)
    assert calls == [4]  # [x; x] in one forward
    cond, uncond = x + 0.6, -0.5 * x + 0.6
    torch.testing.assert_close(out, uncond + g * (cond - uncond))


# --------------------------------------------------------------------------- sdedit


def test_sdedit_start_endpoints():
    x0, noise = _pair()
    schedule = get_schedule(10)
    x_start, tail = sdedit_start(x0, 1.0, schedule, noise)
    assert torch.equal(x_start, noise) and tail == schedule
    x_start, tail = sdedit_start(x0, 0.0, schedule, noise)
    assert torch.equal(x_start, x0) and tail == [0.0]
    assert torch.equal(denoise(lambda x, t: x, x_start, tail), x0)  # no steps: the input comes back
    x_start, tail = sdedit_start(x0, 0.45, schedule, noise)
    assert tail[0] == 0.45 and tail[-1] == 0.0 and tail[1:] == [s for s in schedule if s < 0.45]
    torch.testing.assert_close(x_start, interpolate(x0, noise, 0.45))
