"""The SymPy symbols shared by every derivation (one place, so expressions compose).

Assumptions are part of the maths: ``c`` (a mirror-flow scale) and ``tau`` (the prox
step) are positive, which lets SymPy simplify ``sqrt(c**2)`` and ``Abs(c)``.
"""
import sympy as sp

b = sp.Symbol("b", real=True)            # a coordinate of the predictor beta
x = sp.Symbol("x", real=True)            # the prox output (estimate variable)
z = sp.Symbol("z", real=True)            # the prox input (observation variable)
c = sp.Symbol("c", positive=True)        # per-coordinate mirror scale c_d
tau = sp.Symbol("tau", positive=True)    # prox step (replica order parameter tau)
s = sp.Symbol("s", real=True)            # quadrature variable of the kernels

# initialisation / task parameters (paper symbols in comments)
c_pt = sp.Symbol("c_PT", positive=True)          # c_PT, overall PT scale
lambda_pt = sp.Symbol("lambda_PT", real=True)    # lambda_PT, relative scale
gamma_ft = sp.Symbol("gamma_FT", nonnegative=True)  # gamma_FT, FT readout scale
beta_pt = sp.Symbol("beta_PT", real=True)        # beta_PT,d, PT end point of a coordinate
