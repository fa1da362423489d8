"""Numerical kernels (numba only; no Python objects, strings or exceptions inside)."""
