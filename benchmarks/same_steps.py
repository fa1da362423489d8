"""Do two checkouts take the same steps? Kernel changes meant to cut cost per step only.

Question answered: after an edit of the solver kernels, are the accepted and rejected steps,
every solver counter and every output value unchanged, bit for bit? Solves a fixed battery
with the checkout on PYTHONPATH and saves the results (``save``), then compares two saved
files (``compare``):

    PYTHONPATH=/path/to/A python benchmarks/same_steps.py save /tmp/a.npz
    PYTHONPATH=/path/to/B python benchmarks/same_steps.py save /tmp/b.npz
    python benchmarks/same_steps.py compare /tmp/a.npz /tmp/b.npz

Battery (``driver.solve_one`` directly, so a plan or method is not chosen for it): the LDN
model (with its analytic Jacobian solved as ``run_rows`` solves it: the exact plan and, since
issue 17, the generated straight-line LU), 8 weeks of daily 4.5 or 300 mg, three perturbed
members at rtol 1e-4 / 1e-6 / 1e-9 (atol 1e-3 rtol), and at 1e-6 also with finite-difference
Jacobians, the dense LU and ``auto``; the Test Set problems of ``tests/ivp_problems.py``
(ROBER, POLLU, OREGO, VDPOL, VDPOLM) at rtol 1e-4 ... 1e-10 with Rodas5P and ``auto`` (and
DOPRI5 on the non-stiff ones), analytic and finite-difference Jacobians, autonomous or not
(the df/dt path). About a minute. ``compare`` prints the runs whose counters or status differ
and the largest relative difference of outputs that are not bitwise equal; exit status 1 if
any differ.
"""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _ldn_runs(res):
    from ldnsim import _sparsity
    from ldnsim._kernels import driver
    from ldnsim.dosing import Regimen
    from ldnsim.events import pad_event_tables
    from ldnsim.model import load_model
    rng = np.random.default_rng(20240601)
    m = load_model("ldn")
    c = m.compile()
    rhs, jac, outf = c.kernel_functions
    jac = getattr(c, "jac_nonzeros_kernel", jac)  # as run_rows since issue 17
    # as run_rows solves: the exact plan and, in trees since issue 17, the generated LU (a
    # tree without them checks J outside the pattern each step: the same factors, bitwise)
    exact = "exact" in inspect.signature(_sparsity.make_plan).parameters
    plan = _sparsity.make_plan(c.jac_sparsity, **({"exact": True} if exact else {}))
    checked = _sparsity.make_plan(c.jac_sparsity)  # finite differences: J is checked
    dense = _sparsity.empty_plan()
    glu_api = "glu" in driver.solve_one.py_func.__code__.co_varnames
    y0 = m.initial_state()
    t_eval = np.arange(0.0, 1345.0)
    p0 = m.parameter_vector()
    idx = [c.parameter_index(k) for k in ("ka", "CL_ntx", "V_ntx", "Kd_ntx")]
    variants = ((0, True, plan), (0, False, checked), (0, True, dense), (2, True, plan))
    for dose in (4.5, 300.0):
        ev = tuple(a[0] for a in pad_event_tables(
            [Regimen.repeat(dose, every=24.0, count=56).expand(m)]))
        for r in range(3):
            p = p0.copy()
            p[idx] *= np.exp(0.2 * rng.standard_normal(4))
            for rtol in (1e-4, 1e-6, 1e-9):
                for k, (method, have_jac, pl) in enumerate(variants):
                    if k > 0 and (rtol != 1e-6 or r > 0):
                        continue
                    atol = np.full(y0.size, 1e-3 * rtol)
                    out = np.empty((t_eval.size, y0.size))
                    st = np.zeros(driver.N_STATS, np.int64)
                    extra = ()
                    if glu_api:
                        from ldnsim.solver import _glu
                        extra = (_glu(c.sparse_lu if have_jac else None, pl),)
                    s = driver.solve_one(rhs, jac, outf, method, have_jac, c.autonomous, y0,
                                         t_eval, p, *ev, rtol, atol, 10**7, 0.0, pl, *extra,
                                         out, np.empty((t_eval.size, 0)), st)
                    key = f"ldn_d{dose:g}_r{r}_rt{rtol:g}_m{method}_j{int(have_jac)}_p{pl[0].size}"
                    res[key + "_y"], res[key + "_st"] = out, np.append(st, s)


def _testset_runs(res):
    from ldnsim import _sparsity
    from ldnsim._kernels import driver
    from ldnsim.solver import JAC_SIGNATURE, as_kernel_function
    sys.path.insert(0, str(HERE.parent / "tests"))
    import ivp_problems as ip
    none = (np.full(1, np.inf), np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1))
    for prob in ("rober", "pollu", "orego", "vdpol", "vdpolm"):
        r_, j_, y0, p, t1, _, rule = ip.TESTSET[prob]
        rhs, jac = as_kernel_function(r_), as_kernel_function(j_, JAC_SIGNATURE)
        y0, p = np.asarray(y0, float), np.asarray(p, float)
        n = y0.size
        t_eval = (np.concatenate([[0.0], np.logspace(-5, 5, 99)]) if prob == "rober"
                  else np.linspace(0.0, t1, 61))
        pattern, J = np.zeros((n, n), bool), np.empty((n, n))
        for s_ in (0.37, 0.71):
            j_(0.0, y0 + s_ * np.maximum(np.abs(y0), 1.0), p, J)
            pattern |= J != 0
        plan = _sparsity.make_plan(pattern)
        extra = ()
        if "glu" in driver.solve_one.py_func.__code__.co_varnames:  # since issue 17: unused
            from ldnsim.solver import _glu
            extra = (_glu(None, plan),)
        methods = (0, 2) if prob in ("rober", "pollu", "vdpolm") else (0, 1, 2)
        for rtol in (1e-4, 1e-6, 1e-8, 1e-10):
            for method in methods:
                for have_jac in (True, False):
                    for aut in (True, False):
                        if method == 1 and not (have_jac and aut):
                            continue
                        atol = np.full(n, rule(rtol))
                        out = np.empty((t_eval.size, n))
                        st = np.zeros(driver.N_STATS, np.int64)
                        s = driver.solve_one(rhs, jac, rhs, method, have_jac, aut, y0, t_eval,
                                             p, *none, rtol, atol, 10**6, 0.0, plan, *extra,
                                             out, np.empty((t_eval.size, 0)), st)
                        key = f"{prob}_rt{rtol:g}_m{method}_j{int(have_jac)}_a{int(aut)}"
                        res[key + "_y"], res[key + "_st"] = out, np.append(st, s)


def save(path):
    res: dict = {}
    _ldn_runs(res)
    _testset_runs(res)
    np.savez(path, **res)
    print(f"{len(res) // 2} runs saved to {path}")


def compare(a_path, b_path):
    a, b = np.load(a_path), np.load(b_path)
    if set(a.files) != set(b.files):
        print("the two files hold different runs")
        return 1
    counters = [k[:-3] for k in sorted(a.files)
                if k.endswith("_st") and not np.array_equal(a[k], b[k])]
    worst, n_diff = 0.0, 0
    for k in a.files:
        if k.endswith("_y") and not np.array_equal(a[k], b[k], equal_nan=True):
            n_diff += 1
            rel = np.abs(a[k] - b[k]) / np.maximum(np.abs(a[k]), 1e-300)
            worst = max(worst, float(np.nanmax(rel)))
    runs = len(a.files) // 2
    print(f"{runs} runs: counters or status differ in {len(counters)}"
          + (f" ({', '.join(counters[:10])})" if counters else "")
          + f"; outputs not bitwise equal in {n_diff} (largest relative difference {worst:.2e})")
    return int(bool(counters or n_diff))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 2 and argv[0] == "save":
        save(argv[1])
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        return compare(argv[1], argv[2])
    print(__doc__.split("\n\n")[2])
    return 2


if __name__ == "__main__":
    sys.exit(main())
