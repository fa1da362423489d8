"""CPU time per member with 1 thread for a checkout of ldnsim (on PYTHONPATH): the LDN model
(8 weeks of daily 4.5 mg, 64 perturbed members, run_rows) and a 1,000-member perturbed ROBER
ensemble (integrate_batch, rtol 1e-6). Used for issue 10's before/after check of the layer
refactor (no kernel change): run it alternately for two checkouts and compare.

    PYTHONPATH=/path/to/checkout-A python benchmarks/refactor_ab.py /path/to/checkout-A
    PYTHONPATH=/path/to/checkout-B python benchmarks/refactor_ab.py /path/to/checkout-B

CPU time (time.process_time) rather than wall time: on a loaded machine it moves much less.
Both checkouts must carry the same model file for the LDN figure to compare.
"""
import sys
import time
from pathlib import Path

import numba
import numpy as np

numba.set_num_threads(1)
root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
sys.path.insert(0, str(root / "tests"))

from ldnsim.dosing import Regimen  # noqa: E402
from ldnsim.model import load_model  # noqa: E402
from ldnsim.simulation import run_rows  # noqa: E402
from ldnsim.solver import integrate_batch  # noqa: E402

import ivp_problems as ip  # noqa: E402

try:
    from ldnsim.events import pad_event_tables  # after the refactor
except ImportError:
    from ldnsim.dosing import pad_event_tables  # before it


def best(fn):
    fn()
    out = 1e9
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        out = min(out, time.process_time() - t0)
    return out


m = load_model("ldn")
cm = m.compile()
rng = np.random.default_rng(1)
P = np.tile(m.parameter_vector(), (64, 1))
P[:, :len(m.parameters)] *= rng.lognormal(0, 0.1, (64, len(m.parameters)))
ev = pad_event_tables([Regimen.repeat(4.5, every=24.0, count=56).expand(m)])
t = np.arange(0.0, 56 * 24 + 1.0)
ldn = best(lambda: run_rows(cm, t, P, m.initial_state(), ev, method="rodas5p"))
ps = ip.ROBER_P * np.random.default_rng(7).lognormal(0, 0.1, (1000, 3))
tr = np.logspace(-5, 11, 50)
tr[0] = 0.0
rober = best(lambda: integrate_batch(ip.rober_rhs, ip.ROBER_Y0, tr, ps, jac=ip.rober_jac,
                                     rtol=1e-6, atol=1e-10))
print(f"ldn_ms_per_member {1e3 * ldn / 64:.3f}  rober_us_per_member {1e6 * rober / 1000:.1f}")
