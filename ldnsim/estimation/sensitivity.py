"""Forward sensitivities from the exact symbolic derivatives (as AMICI does), as a model.

For states ``y`` with ``dy/dt = f(t, y, p)`` and fitted parameters ``p_j``, the sensitivities
``S_ij = dy_i/dp_j`` obey ``dS/dt = (df/dy) S + df/dp`` with ``S(t0) = 0`` (initial states do
not depend on parameters in ldnsim; doses add fixed amounts, so ``S`` does not jump). An
output ``g(t, y, p)`` has ``dg/dp_j = (dg/dy) S_j + dg/dp_j``.

:func:`sensitivity_model` writes that augmented system as an ordinary ldnsim :class:`Model`
(original states first, then ``S``; the Jacobian entries and ``df/dp`` as definitions; one
output per original output and parameter), so it compiles, caches and runs through the same
code path as every model: one row per subject gives predictions and their gradient.
Expressions are printed from sympy into the model grammar and re-parsed by the whitelist
parser (never evaluated); a model whose derivatives cannot be written that way (too long or
too deep for the parser) raises :class:`EstimationError`, and ``gradient="fd"`` remains.
"""
from __future__ import annotations

import warnings
from functools import partial

import numpy as np

from .problem import EstimationError

__all__ = ["sensitivity_model", "SensitivityProblem"]


def _printer():
    import sympy as sp
    from sympy.printing.str import StrPrinter

    class ModelPrinter(StrPrinter):
        """sympy -> ldnsim expression text (Python syntax, whitelisted functions)."""

        def _print_Float(self, expr):
            return repr(float(expr))

        def _print_Rational(self, expr):
            return f"({int(expr.p)}/{int(expr.q)})"

        def _print_Exp1(self, expr):
            return "exp(1)"

        def _print_Abs(self, expr):
            return f"abs({self._print(expr.args[0])})"

        def _print_sign(self, expr):
            x = self._print(expr.args[0])
            return f"where({x} > 0, 1, where({x} < 0, -1, 0))"

        def _print_Piecewise(self, expr):
            pieces = list(expr.args)
            if pieces[-1].cond is not sp.true:
                raise EstimationError("a piecewise expression without a default branch")
            text = self._print(pieces[-1].expr)
            for e, c in reversed(pieces[:-1]):
                text = f"where({self._print(c)}, {self._print(e)}, {text})"
            return text

        def _print_And(self, expr):
            return " and ".join(f"({self._print(a)})" for a in expr.args)

        def _print_Or(self, expr):
            return " or ".join(f"({self._print(a)})" for a in expr.args)

        def _print_Not(self, expr):
            return f"not ({self._print(expr.args[0])})"

        def _print_BooleanTrue(self, expr):
            return "(1 > 0)"

        def _print_BooleanFalse(self, expr):
            return "(1 < 0)"

        def _print_Heaviside(self, expr):
            x = self._print(expr.args[0])
            return f"where({x} > 0, 1, 0)"

        def emptyPrinter(self, expr):
            raise EstimationError(f"no model-grammar form for {type(expr).__name__}")

    return ModelPrinter()


def _name(base, taken):
    name = base
    k = 1
    while name in taken:
        name = f"{base}_{k}"
        k += 1
    taken.add(name)
    return name


def sensitivity_model(model, params):
    """The model augmented with forward sensitivities for ``params``.

    Returns
    -------
    sens : Model
        States: the original ones, then ``S`` (state-major: ``S[i, j]`` for state i, param j).
    state_index : ndarray, shape (n_states, n_params)
        Index of ``S[i, j]`` in the augmented state vector.
    output_index : ndarray, shape (n_outputs, n_params)
        Index of ``d output_k / d p_j`` among the augmented outputs.
    """
    import sympy as sp

    from ..model import Model, State
    from ..model.symbolic import model_equations

    rhs, jac, outs = model_equations(model)
    text = partial(_grammar_text, _printer(), model)
    psyms = [sp.Symbol(p, real=True) for p in params]
    ysyms = [sp.Symbol(s, real=True) for s in model.state_names]
    taken = set(model.state_names) | set(model.parameter_names) | set(model.input_names) \
        | {d.name for d in model.definitions} | set(model.output_names)
    n, m = len(ysyms), len(psyms)
    s_names = [[_name(f"S_{model.state_names[i]}__{params[j]}", taken) for j in range(m)]
               for i in range(n)]
    defs, odes = _sensitivity_odes(rhs, jac, psyms, params, s_names, taken, text)
    new_outputs, out_index = _sensitivity_outputs(model, outs, ysyms, psyms, params, s_names,
                                                  taken, text)
    states = list(model.states) + [State(s_names[i][j], 0.0, "1") for i in range(n)
                                   for j in range(m)]
    state_index = np.array([[n + i * m + j for j in range(m)] for i in range(n)],
                           dtype=np.int64).reshape(n, m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the original model's warnings were shown already
        sens = Model(
            name=f"{model.name}_sens"[:64], description=f"{model.name} with forward "
            f"sensitivities for {', '.join(params)}", time_unit=model.time_unit,
            # derived from a checked model; its sensitivity states are labelled "1"
            check_units=False,
            dose_target=model.dose_target, states=states, parameters=model.parameters,
            inputs=model.inputs, definitions=list(model.definitions) + defs,
            odes=list(model.odes) + odes, outputs=list(model.outputs) + new_outputs,
            scenarios=model.scenarios)
    return sens, state_index, out_index


def _grammar_text(printer, model, expr, where):
    """``expr`` (sympy) printed in the model grammar, checked by the model's parser."""
    from ..model.expr import parse_expression

    t = printer.doprint(expr)
    try:
        parse_expression(t, where=where)
    except Exception as exc:  # the parser's limits (length, depth) or an unknown form
        raise EstimationError(f"forward sensitivities are not available for model "
                              f"{model.name!r}: {where} cannot be written in the model "
                              f"grammar ({str(exc)[:120]}); use gradient = 'fd'") from None
    return t


def _sensitivity_odes(rhs, jac, psyms, params, s_names, taken, text):
    """Definitions (the nonzero Jacobian entries, then ``df/dp``) and the sensitivity ODEs
    ``dS_ij/dt = sum_k J_ik S_kj + df_i/dp_j``."""
    import sympy as sp

    from ..model import Definition, Ode

    n, m = len(s_names), len(psyms)
    defs, odes = [], []
    jname = {}
    for i in range(n):
        for k in range(n):
            if jac[i][k] != 0:
                nm = _name(f"sJ_{i}_{k}", taken)
                defs.append(Definition(nm, text(jac[i][k], f"d f_{i} / d y_{k}")))
                jname[i, k] = nm
    fname = {}
    for i in range(n):
        for j in range(m):
            d = sp.diff(rhs[i], psyms[j])
            if d != 0:
                nm = _name(f"sF_{i}_{j}", taken)
                defs.append(Definition(nm, text(d, f"d f_{i} / d {params[j]}")))
                fname[i, j] = nm
    for i in range(n):
        for j in range(m):
            terms = [f"{jname[i, k]} * {s_names[k][j]}" for k in range(n) if (i, k) in jname]
            if (i, j) in fname:
                terms.append(fname[i, j])
            odes.append(Ode(s_names[i][j], " + ".join(terms) if terms else "0"))
    return defs, odes


def _sensitivity_outputs(model, outs, ysyms, psyms, params, s_names, taken, text):
    """One output ``d g_k / d p_j = (dg/dy) S_j + dg/dp_j`` per output and parameter, and
    their index among the augmented outputs (shape (n_outputs, n_params))."""
    import sympy as sp

    from ..model import Output

    n, m = len(ysyms), len(psyms)
    new_outputs = []
    out_index = np.zeros((len(outs), m), dtype=np.int64)
    for k, g in enumerate(outs):
        dgdy = [sp.diff(g, y) for y in ysyms]
        for j in range(m):
            terms = []
            for i in range(n):
                if dgdy[i] != 0:
                    terms.append(f"({text(dgdy[i], f'd output {k} / d y_{i}')}) * "
                                 f"{s_names[i][j]}")
            dgdp = sp.diff(g, psyms[j])
            if dgdp != 0:
                terms.append(f"({text(dgdp, f'd output {k} / d {params[j]}')})")
            nm = _name(f"dO_{model.output_names[k]}__{params[j]}", taken)
            out_index[k, j] = len(model.outputs) + len(new_outputs)
            new_outputs.append(Output(nm, " + ".join(terms) if terms else "0", "1"))
    return new_outputs, out_index


class SensitivityProblem:
    """Predictions and their exact gradient for a Problem, one row per subject."""

    def __init__(self, problem):
        if problem._summary:
            raise EstimationError("gradient = 'sensitivity' handles direct observations only; "
                                  "this data set has summary observations METRIC(VAR): use "
                                  "gradient = 'fd'")
        self.problem = problem
        sens, self.state_index, self.output_index = sensitivity_model(
            problem.sim_model, list(problem.param_names))
        self.model = sens
        self.compiled = sens.compile()
        self.y0 = np.concatenate([problem.y0, np.zeros(self.state_index.size)])

    def predict(self, theta, scales):
        """``(f (n_obs,), df/dx (n_obs, n_params), ok)`` at ``theta`` (natural scale);
        ``x`` is log(theta) for log-scale parameters."""
        from ..simulation import run_rows

        pb = self.problem
        P = pb.base.copy()
        P[:, pb._param_index] = theta
        res = run_rows(self.compiled, pb.grid, P, self.y0, pb.events, **pb.solver)
        ok = bool(np.all(res.status == 0))
        m = len(theta)
        f = np.full(pb.n_obs, np.nan)
        J = np.full((pb.n_obs, m), np.nan)
        for obs_idx, s, gi, kind, vi in pb._direct:
            if kind == "outputs":
                f[obs_idx] = res.outputs[s, gi, vi]
                J[obs_idx] = res.outputs[s][np.ix_(gi, self.output_index[vi])]
            else:
                f[obs_idx] = res.states[s, gi, vi]
                J[obs_idx] = res.states[s][np.ix_(gi, self.state_index[vi])]
        scale = np.array([t if sc == "log" else 1.0 for t, sc in zip(theta, scales)])
        return f, J * scale[None, :], ok
