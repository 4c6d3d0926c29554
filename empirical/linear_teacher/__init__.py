"""Simulations behind the linear-teacher companion theory (``replica.linear_teacher``):
Monte Carlo risk, gradient descent, deep-linear training and wide ReLU networks (``simulate``)."""
