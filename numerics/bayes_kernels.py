"""Numba kernels of the Bayes-optimal scalar channel w = beta + sigma Z (float64, cached).

Per coordinate group the prior is a spike at 0 of weight 1 - eps plus either a Gaussian slab
N(0, v) (``KIND_GAUSS``, par = v) or two atoms +-A of weight eps/2 each (``KIND_FIXED``,
par = A). The kernels return the minimum mean-square error mmse(sigma^2) = E[(E[beta|w] - beta)^2]
with two trapezoid rules (steps h and 2h on the same nodes) so the caller gets an error estimate.

Why the integration variable t = w / sigma (and, for the atoms, the shift w = A + sigma t):
at small sigma the posterior weight of the slab switches from 0 to 1 at |t| ~ t*, with
t*^2 ~ 2 ln(sqrt(v)/sigma); in t that switch is a sigmoid of width ~1/t*, which the rule resolves
(the step is set from t*), while in the Gaussian variable of the slab it shrinks to width ~sigma.
The mmse is written as a sum of positive terms (no cancellation), scaled by sigma^2 (Gaussian
slab) or A^2 (atoms), so it is accurate in relative terms down to sigma^2 ~ 1e-300.
"""
from __future__ import annotations

import math
import sys

import numpy as np
from numba import njit

KIND_GAUSS, KIND_FIXED = 1, 2
_SQ2PI = math.sqrt(2.0 * math.pi)
_H_MAX = 0.2          # largest step in t (the Gaussian weight alone needs far less)
_SHARP = 0.4          # step <= _SHARP / (slope of the posterior logit at its switch)
_CUT = 13.0           # |t| beyond the last feature: the Gaussian weight is < 1e-36 there
_WIN = 40.0          # window: where a log-bound of the integrand is within _WIN of its maximum
_N_MAX = 400_000      # safety cap on nodes (reached only for absurd inputs; the estimate shows it)


@njit(cache=True, error_model="numpy")
def _sigmoid_pair(x):
    """(1 / (1 + e^-x), 1 / (1 + e^x)) without overflow."""
    if x >= 0.0:
        e = math.exp(-x)
        return 1.0 / (1.0 + e), e / (1.0 + e)
    e = math.exp(x)
    return e / (1.0 + e), 1.0 / (1.0 + e)


@njit(cache=True, error_model="numpy")
def mmse_gauss(s2, eps, v, hfac):
    """mmse / sigma^2 of the spike-and-slab prior (1-eps) delta_0 + eps N(0, v); rules h, 2h.

    mmse = sigma^2 [eps k + 2 k^2 int_0^T t^2 ((1-eps) phi(t) pi^2 + eps r phi(r t) (1-pi)^2) dt]
    with k = v/(v+s2), r = sqrt(1-k), pi(t) = sigmoid(c0 + k t^2/2) the posterior slab weight."""
    if eps <= 0.0 or s2 <= 0.0:
        return 0.0, 0.0
    k = v / (v + s2)
    if eps >= 1.0:
        return k, k
    r = math.sqrt(s2 / (v + s2))
    c0 = math.log(eps) - math.log1p(-eps) - 0.5 * math.log1p(v / s2)
    tstar = math.sqrt(-2.0 * c0 / k) if c0 < 0.0 else 0.0
    t_null = min(tstar, 40.0) + _CUT
    t_slab = min(math.sqrt(2.0 * (40.0 - min(c0, 0.0)) / k), _CUT / r)
    top = max(t_null, t_slab)
    h = _H_MAX
    if tstar < 40.0:
        h = min(h, _SHARP / (k * max(tstar, 1.0)))
    h *= hfac
    n = min(int(math.ceil(top / h)), _N_MAX)
    n += n % 2
    h = top / n
    s1 = 0.0
    s2h = 0.0
    for i in range(n + 1):
        t = i * h
        p1, p0 = _sigmoid_pair(c0 + 0.5 * k * t * t)
        f = t * t * ((1.0 - eps) * math.exp(-0.5 * t * t) * p1 * p1
                     + eps * r * math.exp(-0.5 * r * r * t * t) * p0 * p0) / _SQ2PI
        w = 0.5 if i == 0 or i == n else 1.0
        s1 += w * f
        if i % 2 == 0:
            s2h += w * f
    return eps * k + 2.0 * k * k * h * s1, eps * k + 2.0 * k * k * 2.0 * h * s2h


@njit(cache=True, error_model="numpy")
def _softmax3(a, b, c):
    m = max(a, max(b, c))
    ea, eb, ec = math.exp(a - m), math.exp(b - m), math.exp(c - m)
    s = ea + eb + ec
    return ea / s, eb / s, ec / s


@njit(cache=True, error_model="numpy")
def _cap(t, s, b):
    """g(t) = -t^2/2 + min(0, s (t - b)): a concave bound on the log of a Gaussian weight times a
    squared posterior weight that switches off (or on) with slope s at t = b."""
    return -0.5 * t * t + min(0.0, s * (t - b))


@njit(cache=True, error_model="numpy")
def _cap_max(s, b):
    """max of _cap: at the peak of one of its two concave pieces (t = 0, t = s) or at their
    crossing t = b. Returns (t_max, g_max)."""
    best_t, best = 0.0, _cap(0.0, s, b)
    for t in (s, b):
        g = _cap(t, s, b)
        if g > best:
            best_t, best = t, g
    return best_t, best


@njit(cache=True, error_model="numpy")
def _cap_window(s, b, thr):
    """[lo, hi] = {t : _cap(t) >= thr} (an interval: _cap is concave); lo > hi when empty."""
    tm, gm = _cap_max(s, b)
    if gm < thr:
        return 1.0, -1.0
    far = abs(tm) + math.sqrt(max(-2.0 * thr, 0.0)) + 1.0     # _cap <= -t^2/2 < thr beyond
    ends = np.empty(2)
    for j in range(2):
        inner, outer = tm, tm + (far if j == 1 else -far)
        for _ in range(60):
            mid = 0.5 * (inner + outer)
            if _cap(mid, s, b) >= thr:
                inner = mid
            else:
                outer = mid
        ends[j] = outer
    return ends[0], ends[1]


@njit(cache=True, error_model="numpy")
def _null_err(t, kk, lr):
    """p+ - p- at w = sigma t >= 0, from the logits (0, +A, -A) relative to 0: d = lr + kk t -
    kk^2/2 and -2 kk t; two exponentials (expm1 keeps 1 - e^{-2 kk t} exact near t = 0)."""
    d = lr + kk * t - 0.5 * kk * kk
    em = math.expm1(-2.0 * kk * t)          # x - 1 with x = e^{-2 kk t} = p- / p+
    if d >= 0.0:
        return -em / (2.0 + em + math.exp(-d))
    y = math.exp(d)
    return -y * em / (1.0 + y * (2.0 + em))


@njit(cache=True, error_model="numpy")
def _atom_err(t, kk, lr):
    """p0 + 2 p- at w = A + sigma t, with a = logit(0) - logit(+A), c = logit(-A) - logit(+A);
    divided by the largest weight, so two exponentials and no overflow."""
    a = -(lr + kk * t + 0.5 * kk * kk)
    c = -2.0 * kk * (t + kk)
    if a <= 0.0 and c <= 0.0:              # +A is the most likely
        ea, ec = math.exp(a), math.exp(c)
        return (ea + 2.0 * ec) / (ea + 1.0 + ec)
    if a >= c:                              # 0 is the most likely
        e1, e2 = math.exp(-a), math.exp(c - a)
        return (1.0 + 2.0 * e2) / (1.0 + e1 + e2)
    e1, e2 = math.exp(-c), math.exp(a - c)  # -A is the most likely
    return (e2 + 2.0) / (e2 + e1 + 1.0)


@njit(cache=True, error_model="numpy")
def _trap_fixed(null, lo, hi, h, kk, lr):
    """Trapezoid rules (steps ~h and 2h) on [lo, hi] of the null (w = sigma t) or atom (w = A +
    sigma t) integrand. The integrand is analytic and negligible at both ends (or even about
    lo = 0), so the rule converges geometrically and the two steps give an error estimate."""
    if hi <= lo:
        return 0.0, 0.0
    n = min(int(math.ceil((hi - lo) / h)), _N_MAX)
    n = max(n + n % 2, 2)
    hn = (hi - lo) / n
    a1 = 0.0
    a2 = 0.0
    for i in range(n + 1):
        t = lo + i * hn
        if null:
            e = _null_err(t, kk, lr)
        else:
            e = _atom_err(t, kk, lr)
        f = math.exp(-0.5 * t * t) * e * e
        w = 0.5 if i == 0 or i == n else 1.0
        a1 += w * f
        if i % 2 == 0:
            a2 += w * f
    return hn * a1, 2.0 * hn * a2


@njit(cache=True, error_model="numpy")
def mmse_fixed(s2, eps, amp, hfac):
    """mmse / A^2 of the prior (1-eps) delta_0 + (eps/2)(delta_A + delta_-A); rules h, 2h.

    Null coordinates (w = sigma t) err by A (p+ - p-); atoms at +A (w = A + sigma t, by symmetry
    also -A) by A (p0 + 2 p-); p are posterior weights from their logits.

    Why windows: at small sigma the posterior switches (width 1/kk in t, kk = A/sigma) sit far
    out in the Gaussian tail, and the integrand lives within ~_WIN/kk of them. Each integrand is
    bounded by exp(-t^2/2 + min(0, s (t - b))) (a concave log-bound per switch); the rule runs
    only where that bound is within e^-_WIN of its maximum, so the step set by the switch (1/kk)
    is paid on a window of length O(1/kk + 1/t) instead of the whole line."""
    if eps <= 0.0 or s2 <= 0.0:
        return 0.0, 0.0
    sig = math.sqrt(s2)
    kk = amp / sig
    lr = math.log(0.5 * eps) - (math.log1p(-eps) if eps < 1.0 else 0.0)
    lr_w = lr if eps < 1.0 else math.inf    # eps = 1: no null component (lr above only places windows)
    # switches of the posterior (|t| where a logit crosses 0), each of sharpness kk: null
    # coordinates switch at +-t0 (even integrand: half line), atoms at -t1 and -kk (t < 0 side)
    t0 = abs(0.5 * kk - lr / kk)
    t1 = max(abs(0.5 * kk + lr / kk), kk)
    h = _H_MAX
    if min(t0, t1) < 40.0:
        h = min(h, _SHARP / kk)
    if eps >= 1.0:          # only the +-A switch, of slope 2 kk
        h *= 0.5
    h *= hfac
    # null: p+ <= exp(kk (t - (kk/2 - lr/kk))); the window is cut to the half line [0, top0]
    top0 = min(t0, 27.0) + _CUT
    lo, hi = _cap_window(2.0 * kk, 0.5 * kk - lr / kk, _cap_max(2.0 * kk, 0.5 * kk - lr / kk)[1] - _WIN)
    null1, null2 = _trap_fixed(True, max(lo, 0.0), min(hi, top0), h, kk, lr_w)
    null1, null2 = 2.0 * null1, 2.0 * null2     # (from t = 0 the half weight is exact: even)
    # atom +A: p0 <= exp(-kk (t + kk/2 + lr/kk)), p- <= exp(-2 kk (t + kk)); (p0 + 2 p-)^2 is
    # below 9 times the larger of the two squared bounds: the window is their union
    top1 = min(t1, 27.0) + _CUT
    b1, b2 = -(0.5 * kk + lr / kk), -kk
    # (eps = 1: no null component, so no p0 switch: only the -A one bounds the integrand)
    g1 = _cap_max(-2.0 * kk, b1)[1] if eps < 1.0 else -math.inf
    g = max(g1, _cap_max(-4.0 * kk, b2)[1]) - _WIN
    lo1, hi1 = _cap_window(-2.0 * kk, b1, g) if eps < 1.0 else (1.0, -1.0)
    lo2, hi2 = _cap_window(-4.0 * kk, b2, g)
    lo = min(lo1 if lo1 <= hi1 else math.inf, lo2 if lo2 <= hi2 else math.inf)
    hi = max(hi1 if lo1 <= hi1 else -math.inf, hi2 if lo2 <= hi2 else -math.inf)
    at1, at2 = _trap_fixed(False, max(lo, -top1), min(hi, _CUT), h, kk, lr_w)
    return (((1.0 - eps) * null1 + eps * at1) / _SQ2PI, ((1.0 - eps) * null2 + eps * at2) / _SQ2PI)


@njit(cache=True, error_model="numpy")
def mmse_one(s2, weight, eps, kind, par, hfac):
    """sum_g weight_g mmse_g(s2) with rules h and 2h (a scalar call: no arrays to allocate)."""
    acc1 = 0.0
    acc2 = 0.0
    for g in range(weight.size):
        if kind[g] == KIND_GAUSS:
            m1, m2 = mmse_gauss(s2, eps[g], par[g], hfac)
            scale = s2
        else:
            m1, m2 = mmse_fixed(s2, eps[g], par[g], hfac)
            scale = par[g] * par[g]
        acc1 += weight[g] * m1 * scale
        acc2 += weight[g] * m2 * scale
    return acc1, acc2


@njit(cache=True, error_model="numpy")
def mmse_sum(s2s, weight, eps, kind, par, hfac, out, out2):
    """out[i] = sum_g weight_g mmse_g(s2s[i]) (rule h), out2 the same with rule 2h."""
    for i in range(s2s.size):
        out[i], out2[i] = mmse_one(s2s[i], weight, eps, kind, par, hfac)


@njit(cache=True, error_model="numpy")
def mmse_groups(s2, eps, kind, par, hfac, out, out2):
    """Per-group mmse_g(s2) (rules h and 2h)."""
    for g in range(eps.size):
        if kind[g] == KIND_GAUSS:
            m1, m2 = mmse_gauss(s2, eps[g], par[g], hfac)
            out[g], out2[g] = m1 * s2, m2 * s2
        else:
            m1, m2 = mmse_fixed(s2, eps[g], par[g], hfac)
            out[g], out2[g] = m1 * par[g] * par[g], m2 * par[g] * par[g]


def total_mmse(s2s, weight, eps, kind, par, hfac: float = 1.0):
    """sum_g weight_g mmse_g at each sigma^2 in ``s2s`` (array) with rules h and 2h."""
    s2s = np.ascontiguousarray(s2s, dtype=float).ravel()
    out, out2 = np.empty_like(s2s), np.empty_like(s2s)
    mmse_sum(s2s, weight, eps, kind, par, float(hfac), out, out2)
    return out, out2


# cached overloads load without Numba's full context refresh (see numerics.codegen)
from numerics.codegen import light_cache_loads  # noqa: E402

light_cache_loads(sys.modules[__name__])
