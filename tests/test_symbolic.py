"""Every derivation check passes; the compiled c_FT map matches a direct construction."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics.transfer import c_ft
from symbolic.verify import run_checks


def test_all_verify_checks_pass():
    failed = [r for r in run_checks(seed=3) if not r.passed]
    assert not failed, failed


def _merged_c(beta, c, lam, gamma):
    """Build the PT end state numerically on the orbit (rapidities A, B), merge, read c."""
    if lam == 0:
        h = math.hypot(beta, c)
        # (beta + h)/2 without cancellation for beta < 0: (beta + h)(h - beta) = c^2
        a = math.sqrt((beta + h) / 2 if beta >= 0 else c * c / (2 * (h - beta)))
        bb = c / (2 * a)
        wp, vp, wm, vm = a, a, bb, bb
    else:
        r = math.sqrt(abs(lam))
        A, B = math.acosh(c / abs(lam)), math.asinh(beta / c)
        tp, tm = (A + B) / 2, (A - B) / 2
        if lam > 0:
            wp, vp, wm, vm = r * math.cosh(tp), r * math.sinh(tp), r * math.cosh(tm), r * math.sinh(tm)
        else:
            wp, vp, wm, vm = r * math.sinh(tp), r * math.cosh(tp), r * math.sinh(tm), r * math.cosh(tm)
    # the state really is on the orbit of the PT initialisation
    assert wp * wm + vp * vm == pytest.approx(c, rel=1e-9)
    assert wp * vp - wm * vm == pytest.approx(beta, rel=1e-9, abs=1e-12 * c)
    return (wp + wm) ** 2 + gamma**2 / 2


# the test's own rapidity construction needs |lambda| not subnormal (acosh(c/lambda) finite)
lam_rel = st.one_of(st.just(0.0), st.floats(1e-6, 0.99), st.floats(-0.99, -1e-6))


@settings(max_examples=200, deadline=None)
@given(st.floats(-4, 1), lam_rel, st.floats(-3, 3), st.floats(0, 3))
def test_c_ft_matches_direct_construction(log_c, lam_rel, beta, gamma):
    c = 10.0**log_c
    lam = lam_rel * c
    assert c_ft(beta, c, lam, gamma) == pytest.approx(_merged_c(beta, c, lam, gamma), rel=1e-9)


def test_c_ft_limits():
    assert c_ft(1.0, 1e-3, -1e-3, 0.5) == pytest.approx(0.5**2 / 2)        # lambda = -c: gamma^2/2 only
    for c, lam, g in [(1e-3, 0.0, 0.0), (0.2, -0.1, 1.0), (1.0, 0.9, 0.0)]:
        assert c_ft(0.0, c, lam, g) == pytest.approx(2 * (c + lam) + g**2 / 2)
