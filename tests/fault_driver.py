"""Run ``ldnsim`` with a pause at a chosen moment, for the signal fault tests.

``python tests/fault_driver.py PHASE ldnsim-arguments...`` runs the command line as
``python -m ldnsim`` would, except that it stops (sleeps) at PHASE after printing
``PAUSED <phase>`` on stdout, so a test can send a signal at exactly that moment:

- ``solve``: after the first chunk of rows has been solved (the sweep is under way);
- ``save``: while the result file is being written (the temporary file exists and holds the
  complete data, the rename over the old result has not happened).

Nothing is changed about what ldnsim does before or after the pause.

SIGINT gets Python's own handler back first: a shell that starts a job in the background
(``cmd &`` without job control, as a CI script may run the suite) starts it with SIGINT
ignored, the driver would inherit that, sleep through the signal, and the test would time out
on something that says nothing about ldnsim.
"""
import signal
import sys
import time


def _pause(phase):
    print(f"PAUSED {phase}", flush=True)
    time.sleep(120)


def main():
    signal.signal(signal.SIGINT, signal.default_int_handler)
    phase, argv = sys.argv[1], sys.argv[2:]
    if phase == "solve":
        import ldnsim.sweep.jobs as sweep_run  # where a chunk's job looks the solve up
        real = sweep_run.run_chunk

        def run_chunk(*args, **kwargs):
            out = real(*args, **kwargs)
            _pause("solve")
            return out

        sweep_run.run_chunk = run_chunk
    elif phase == "save":
        import xarray as xr
        real = xr.Dataset.to_netcdf

        def to_netcdf(self, path=None, *args, **kwargs):
            out = real(self, path, *args, **kwargs)
            _pause("save")
            return out

        xr.Dataset.to_netcdf = to_netcdf
    else:
        raise SystemExit(f"unknown phase {phase!r}")
    from ldnsim.cli import main as cli_main
    sys.exit(cli_main(argv))


if __name__ == "__main__":
    main()
