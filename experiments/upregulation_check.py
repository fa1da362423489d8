"""Brain receptor up-regulation against the PET data: the check behind the model card's
"Brain up-regulation and PET" (a problem found by the third review, and how it was fixed).

Before: the PET fits were made with up-regulation off while the headline ran it on in the brain;
up-regulated free receptors then diluted PET inhibition (a single 50 mg dose gave -0.28 at
168 h against Lee 1988's +0.29) and the tonic window's upper edge rested on that. Now the PET
fits (models/calibration/pet_meyer.nc) run brain up-regulation while fitting, with its share
``up_brain`` a fitted parameter, and the headline draws ``up_brain`` together with the
``Kd_ntx`` and retention it needs. This prints, for the file values (the maximum-likelihood
estimate, ``up_brain`` = 0) and for the best-fitting posterior draw with ``up_brain`` > 0.85:

- the single-50 mg PET time course against Lee 1988 (both must fit: each is a point the PET
  data accept), and
- the daily hours of brain blockade over the last week of 8 weeks of 1.5, 3 and 4.5 mg/day at
  PET thresholds 0.4 / 0.5 / 0.6 under both hypotheses, with the brain receptor density.

    python experiments/upregulation_check.py
"""
from pathlib import Path

import numpy as np

import ldnsim
from ldnsim.estimation import open_fit
from ldnsim.metrics import blockade_hours

ROOT = Path(__file__).resolve().parents[1]
MODEL = ldnsim.load_model("ldn")
BASE = ("pharmaceutical", "human_pet")
LEE = {48.0: 0.865, 72.0: 0.76, 120.0: 0.437, 168.0: 0.285}


def high_up_brain_draw(threshold=0.85):
    """The posterior draw of pet_meyer with up_brain > threshold and the highest log posterior."""
    fit = open_fit(ROOT / "models" / "calibration" / "pet_meyer.nc")
    names = [str(p) for p in fit["parameter"].values]
    post = np.asarray(fit["posterior"].values).reshape(-1, len(names))
    logp = np.asarray(fit["posterior_log_prob"].values).reshape(-1)
    ok = post[:, names.index("up_brain")] > threshold
    best = np.flatnonzero(ok)[np.argmax(logp[ok])]
    return dict(zip(names, post[best].tolist()))


def daily(dose, hypothesis, params):
    t = np.concatenate([np.arange(0, 1176, 24.0), np.arange(1176, 1344.01, 0.5)])
    return ldnsim.simulate(MODEL, t, params=params, scenarios=BASE + (hypothesis,),
                           regimen=ldnsim.Regimen.repeat(dose, every=24.0, count=56),
                           method="rodas5p")


def main():
    points = [("file values (up_brain = 0)", None),
              ("posterior draw, up_brain > 0.85", high_up_brain_draw())]
    for label, params in points:
        shown = {k: round(v, 4) for k, v in (params or {}).items()}
        print(f"{label}: {shown or 'the values in models/ldn.toml'}")
        t = np.array([0.0, 1.0, *LEE])
        for hyp in ("tonic", "rebound"):
            ds = ldnsim.simulate(MODEL, t, params=params, scenarios=BASE + (hyp,),
                                 regimen=ldnsim.Regimen.single(50.0), method="rodas5p")
            p = ds.pet_inhibition.values
            print(f"  single 50 mg, {hyp:7s}: PET inhibition at 1 h {p[1]:.3f}; relative to "
                  f"it at 48/72/120/168 h "
                  + " / ".join(f"{v / p[1]:.2f}" for v in p[2:])
                  + "   (Lee 1988: 0.91 / 0.80 / 0.46 / 0.30)")
        for dose in (1.5, 3.0, 4.5):
            for hyp in ("tonic", "rebound"):
                ds = daily(dose, hyp, params)
                hours = [float(blockade_hours(ds, "pet_inhibition", th, last_days=7)
                               .blockade_hours) for th in (0.4, 0.5, 0.6)]
                print(f"  {dose:>4} mg/day, {hyp:7s}: blockade h/day above 0.4/0.5/0.6 "
                      + " / ".join(f"{h:4.1f}" for h in hours)
                      + f"   brain density {float(ds.receptor_density[-1]):.2f}")


if __name__ == "__main__":
    main()
