"""Run a sweep's rows in worker processes, and check the result against run_plan.

    python docs/examples/scale_out.py     (docs/scale-out.md; tests/test_docs_site.py runs it)
"""
from concurrent.futures import ProcessPoolExecutor

import numpy as np

import ldnsim
from ldnsim.sweep import plan_sweep, run_chunk, run_plan


def work(plan, a, b):            # runs in a worker: arrays in, arrays out
    return run_chunk(str(plan.model.path), plan.t_eval, plan.P[a:b], plan.y0,
                     plan.events(a, b), keep_index=plan.keep_index, **plan.solver)


if __name__ == "__main__":
    plan = plan_sweep("one_compartment_oral", np.arange(0, 24 * 7 + 1.0),
                      axes={"dose": [0.5, 1.5, 4.5, 50.0], "CL": [100.0, 200.0]},
                      regimen=ldnsim.Regimen.repeat(1.0, every=24.0, count=7),
                      keep=["C_plasma"])
    parts = [(a, min(a + 2, plan.n_rows)) for a in range(0, plan.n_rows, 2)]
    with ProcessPoolExecutor(2) as pool:
        results = list(pool.map(work, [plan] * len(parts), *zip(*parts)))
    values = np.concatenate([r.values for r in results])   # (rows, time, kept variables)
    print(values.shape, plan.keep)
    ref = run_plan(plan)
    same = np.allclose(values[:, :, 0], ref.C_plasma.values.reshape(plan.n_rows, -1))
    print("same as run_plan:", same)
