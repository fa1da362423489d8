"""Do the shipped experiments give the same arrays on two versions of ldnsim, bit for bit?

Run every ``experiments/*.toml`` with the ldnsim that ``PYTHONPATH`` selects and save each
result as NetCDF into a folder; then compare two such folders variable by variable with
``numpy.array_equal`` (NaN equal to NaN)::

    PYTHONPATH=/path/to/base   python benchmarks/shipped_unchanged.py run  /tmp/shipped-base
    PYTHONPATH=/path/to/branch python benchmarks/shipped_unchanged.py run  /tmp/shipped-branch
    python benchmarks/shipped_unchanged.py compare /tmp/shipped-base /tmp/shipped-branch

Every shipped experiment that draws (population, sampling) gives its seed in the file, so
both versions draw the same subjects and samples.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def run(out: Path, names=None):
    import ldnsim
    from ldnsim.experiment import run_experiment
    from ldnsim.io import save_result

    out.mkdir(parents=True, exist_ok=True)
    print(f"ldnsim from {ldnsim.__file__}")
    for path in sorted((ROOT / "experiments").glob("*.toml")):
        if names and path.stem not in names:
            continue
        t0 = time.perf_counter()
        ds = run_experiment(path)
        save_result(ds, out / f"{path.stem}.nc")
        print(f"{path.stem}: {dict(ds.sizes)} in {time.perf_counter() - t0:.1f} s", flush=True)


def compare(a: Path, b: Path) -> int:
    import xarray as xr

    bad = 0
    files = sorted(p.name for p in a.glob("*.nc"))
    for name in files:
        other = b / name
        if not other.exists():
            print(f"{name}: missing in {b}")
            bad += 1
            continue
        x, y = xr.open_dataset(a / name), xr.open_dataset(other)
        names = sorted(set(x.variables) | set(y.variables))
        diff = [n for n in names if n not in x.variables or n not in y.variables
                or not np.array_equal(np.asarray(x[n].values), np.asarray(y[n].values),
                                      equal_nan=x[n].dtype.kind == "f")]
        print(f"{name}: {len(names)} variables, "
              + ("identical bit for bit" if not diff else f"DIFFERENT: {diff}"))
        bad += bool(diff)
    print(f"{len(files)} experiments compared, {bad} differ")
    return bad


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("out", type=Path)
    r.add_argument("--only", nargs="*")
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "run":
        run(args.out, args.only)
        return 0
    return 1 if compare(args.a, args.b) else 0


if __name__ == "__main__":
    sys.exit(main())
