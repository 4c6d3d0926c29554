"""Companion theory: fine-tuning with linear teachers (docs/linear_teacher.md).

``theory`` (risk of the gradient-flow end point, asymptotics, sample complexity; its names are
re-exported here), ``deep`` (deep-linear implicit bias) and ``ntk`` (infinite-width view). The
simulations behind them are in ``empirical.linear_teacher``.
"""
from .theory import (AsymptoticRisk, TeacherPair, asymptotic_risk, compare_sample_complexity, effective_ridge,
                     ft_risk_given_x, ft_risk_isotropic, ft_solution, make_pair, make_spectrum, population_risk,
                     risk_curves, sample_complexity, similarity, zero_shot_risk)

__all__ = ["AsymptoticRisk", "TeacherPair", "asymptotic_risk", "compare_sample_complexity", "effective_ridge",
           "ft_risk_given_x", "ft_risk_isotropic", "ft_solution", "make_pair", "make_spectrum", "population_risk",
           "risk_curves", "sample_complexity", "similarity", "zero_shot_risk"]
