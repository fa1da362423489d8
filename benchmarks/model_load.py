"""Model loading with the dimension check: how long does ``load_model("models/ldn.toml")`` take?

Three cases, each in fresh processes (``import ldnsim`` is timed separately):

* ``unchecked``: the same file with ``check_units = false`` (what loading cost before the check);
* ``checked, warm``: the unit table is cached in ``LDNSIM_CACHE_DIR`` (pint is not imported);
* ``checked, cold``: an empty cache directory, so pint is imported and its registry built once.

    python benchmarks/model_load.py [--repeat 5]

Writes ``benchmarks/results/model_load.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

from common import env_info, print_env, write_json

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import ldnsim
t1 = time.perf_counter()
ldnsim.load_model(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "pint": "pint" in sys.modules}))
"""


def _run(path, cache):
    env = {**os.environ, "LDNSIM_CACHE_DIR": cache,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", CHILD, str(path)], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    env = env_info()
    print_env(env)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        unchecked = pathlib.Path(tmp) / "ldn.toml"
        text = (ROOT / "models" / "ldn.toml").read_text()
        unchecked.write_text(text.replace('time_unit = "h"', 'time_unit = "h"\n'
                                          'check_units = false', 1))
        warm = os.path.join(tmp, "warm")
        _run(ROOT / "models" / "ldn.toml", warm)  # fills the unit table
        cases = {"unchecked": lambda i: _run(unchecked, warm),
                 "checked, warm": lambda i: _run(ROOT / "models" / "ldn.toml", warm),
                 "checked, cold": lambda i: _run(ROOT / "models" / "ldn.toml",
                                                 os.path.join(tmp, f"cold{i}"))}
        for name, fn in cases.items():
            runs = [fn(i) for i in range(args.repeat)]
            results[name] = {"load_s_median": statistics.median(r["load"] for r in runs),
                             "import_s_median": statistics.median(r["import"] for r in runs),
                             "pint_imported": runs[-1]["pint"], "runs": runs}
            print(f"{name:15s} load {results[name]['load_s_median']:.3f} s (median of "
                  f"{args.repeat}), import ldnsim {results[name]['import_s_median']:.3f} s, "
                  f"pint imported: {runs[-1]['pint']}")
    write_json(pathlib.Path(__file__).parent / "results" / "model_load.json",
               {"benchmark": "model_load", "args": vars(args), "env": env, "cases": results})


if __name__ == "__main__":
    main()
