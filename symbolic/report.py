"""The derivation as readable steps (``ptft derive``), printed from the derived expressions.

Nothing here is typed in: every formula shown is an expression returned by ``symbolic.network``,
``symbolic.potential``, ``symbolic.transfer`` or ``symbolic.penalty``.
"""
from __future__ import annotations

import sympy as sp

from . import transfer
from .network import beta_expr, conserved_quantities, flow_matrix, predictor_metric
from .penalty import hyperbolic_entropy
from .potential import hyperbolic_entropy_expr
from .symbols import b
from .errors import InputError

_FORMATS = ("text", "latex")
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "_": r"\_", "^": r"\^{}", "&": r"\&", "%": r"\%",
                  "#": r"\#", "$": r"\$", "{": r"\{", "}": r"\}", "~": r"\~{}"}


def _escape(prose: str) -> str:
    """Prose in LaTeX text mode (identifiers like c_PT keep their underscores visible)."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in prose)


def _show(expr, fmt: str, lhs: str | sp.Basic | None = None) -> str:
    """One displayed formula (``lhs = expr``): indented pretty ASCII, or a LaTeX display.
    A string lhs is a label (\\text in LaTeX), a SymPy object is printed."""
    if fmt == "latex":
        body = sp.latex(expr)
        if lhs is None:
            return f"\\[ {body} \\]"
        left = sp.latex(lhs) if isinstance(lhs, sp.Basic) else f"\\text{{{_escape(lhs)}}}"
        return f"\\[ {left} = {body} \\]"
    text = sp.pretty(expr, use_unicode=False)
    if lhs is not None:
        lhs = sp.pretty(lhs, use_unicode=False) if isinstance(lhs, sp.Basic) else lhs
        lines = text.splitlines()
        pad = " " * (len(lhs) + 3)
        mid = len(lines) // 2   # SymPy's baseline is the middle line of the block
        text = "\n".join((f"{lhs} = " if i == mid else pad) + ln for i, ln in enumerate(lines))
    return "\n".join("    " + ln for ln in text.splitlines())


def _heading(title: str, fmt: str) -> str:
    return f"\\subsection*{{{_escape(title)}}}" if fmt == "latex" else f"\n{title}\n{'-' * len(title)}"


def _text(s: str, fmt: str) -> str:
    return _escape(s) if fmt == "latex" else "  " + s


def derivation(fmt: str = "text") -> str:
    """The whole derivation; fmt: 'text' (pretty ASCII) or 'latex' (a LaTeX fragment)."""
    if fmt not in _FORMATS:
        raise InputError(f"fmt must be one of {_FORMATS}, got {fmt!r}")
    cq = conserved_quantities()
    syms = cq.invariant_symbols()
    q = hyperbolic_entropy_expr()
    hyp = hyperbolic_entropy()
    ft = transfer.ft_invariants()
    out: list[str] = []
    add = out.append

    add(_heading("1. Network and gradient flow", fmt))
    add(_text("Per coordinate, theta = (w+, v+, w-, v-) and beta =", fmt))
    add(_show(beta_expr(), fmt, "beta"))
    add(_text("With g = dL/dbeta the flow is theta' = -g A theta, A =", fmt))
    add(_show(flow_matrix(), fmt, "A"))

    add(_heading("2. Conserved quantities", fmt))
    add(_text("theta^T M theta is conserved iff M A + A^T M = 0 (M symmetric); the solution space "
              f"has dimension {cq.dimension}, with basis", fmt))
    for name, form in cq.named().items():
        add(_show(form, fmt, syms[name]))
    add(_text("Groebner elimination of theta gives the one relation among them:", fmt))
    add(_show(sp.Eq(cq.relation, 0), fmt))

    add(_heading("3. Predictor metric", fmt))
    add(_text("beta' = -g |theta|^2 and |theta|^4 - 4 beta^2 reduces modulo the invariants to k:", fmt))
    add(_show(cq.k, fmt, "k"))
    add(_show(cq.metric, fmt, "m(beta)"))
    add(_text("balanced paths (lambda+ = lambda-, so k = 4c^2):", fmt))
    add(_show(predictor_metric(balanced=True), fmt, "m(b)"))

    add(_heading("4. Mirror potential (hyperbolic entropy)", fmt))
    add(_text("q_c'' = 1/m, q_c(0) = q_c'(0) = 0, integrated twice:", fmt))
    add(_show(sp.simplify(sp.diff(q, b)), fmt, "q_c'(b)"))
    add(_show(q, fmt, "q_c(b)"))
    add(_text("Gradient flow from beta = 0 ends at argmin sum_d q_{c_d}(beta_d) s.t. X beta = y.", fmt))

    add(_heading("5. Pretraining -> fine-tuning (Theorem 4.1)", fmt))
    add(_text("PT initialisation:", fmt))
    for t, v in transfer.pt_initial_state().items():
        add(_show(v, fmt, t))
    inv = transfer.pt_invariants()
    add(_text("fixes the orbit invariants:", fmt))
    for name in ("c", "lambda_plus", "lambda_minus", "e"):
        add(_show(inv[name], fmt, syms[name]))
    add(_show(inv["k"], fmt, "k"))
    add(_text("Eliminating theta from {invariants, beta = beta_PT, W = (w+ + w-)^2} (s_+ = c_PT + lambda_PT):", fmt))
    add(_show(sp.Eq(transfer.pt_eliminant(), 0), fmt))
    add(_text("The root continued from the initialisation (W = 2 s_+ at beta = 0; the other root is <= 0):", fmt))
    add(_show(transfer.merged_weight_square(), fmt, "W"))
    add(_text("The oracle PT end state, one form for every sign of lambda_PT (hyperbolic "
              "parametrisation theta_pm = (A +- B)/2 expanded by the addition theorem):", fmt))
    for t, v in transfer._hyperbolic_ansatz().items():
        add(_show(v, fmt, t))
    add(_text("with (solved from the invariants; C_B = cosh(B/2), S_B = sinh(B/2), B = asinh(beta_PT/c_PT)):", fmt))
    for t, v in transfer.pt_end_state_solution().items():
        add(_show(v, fmt, t))
    add(_text("FT re-initialisation w+- = S = w+ + w-, v+- = gamma_FT/sqrt(2):", fmt))
    for name in ("lambda_plus", "lambda_minus", "c", "beta", "k"):
        add(_show(ft[name], fmt, (name + "_FT") if name != "beta" else "beta_FT(0)"))
    add(_text("hence, with S^2 = W:", fmt))
    add(_show(transfer.c_ft_expression(), fmt, "c_FT"))
    add(_text("equivalently, with r = 1 + lambda_PT/c_PT:", fmt))
    add(_show(transfer.c_ft_normalised_expression(), fmt, "c_FT"))
    add(_text("Assumptions:", fmt))
    if fmt == "latex":
        add("\\begin{itemize}\n" + "\n".join(f"\\item {_escape(a)}" for a in transfer.ASSUMPTIONS)
            + "\n\\end{itemize}")
    else:
        out.extend(f"    - {a}" for a in transfer.ASSUMPTIONS)

    add(_heading("6. Prox of tau q_c (replica scalar channel)", fmt))
    add(_text("optimality condition (zero at x = prox_{tau q_c}(z)):", fmt))
    add(_show(sp.Eq(hyp.prox_condition(1), 0), fmt))
    add(_text("explicit inverse and derivative (no kink: Q'(0-) = Q'(0+) = "
              f"{hyp.kink[1]}, so no dead zone):", fmt))
    add(_show(hyp.prox_inverse(1), fmt, "z(x)"))
    add(_show(hyp.prox_derivative(1), fmt, "eta'"))
    add(_text("(x is the prox output; the same formulas hold on x < 0 since q_c is even)", fmt))
    return "\n".join(out)
