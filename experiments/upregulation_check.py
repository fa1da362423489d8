"""What brain receptor up-regulation does to PET inhibition: the check behind the model card's
"Known problem: up-regulation and PET" (found by a review of model v2).

The PET fits (models/calibration/pet_*.toml) are made with up-regulation off (w_tonic =
w_rebound = 0); the headline runs it on (tonic or rebound). This prints, at file values, the
daily hours of blockade over the last week of 8 weeks of daily doses at PET thresholds 0.4 /
0.5 / 0.6 with up-regulation off and on, and the single-50-mg PET time course against Lee 1988.

    python experiments/upregulation_check.py
"""
import numpy as np

import ldnsim
from ldnsim.metrics import blockade_hours

MODEL = ldnsim.load_model("ldn")
BASE = ("pharmaceutical", "human_pet")


def daily(dose, hypothesis, params=None):
    t = np.concatenate([np.arange(0, 1176, 24.0), np.arange(1176, 1344.01, 0.5)])
    return ldnsim.simulate(MODEL, t, params=params, scenarios=BASE + (hypothesis,),
                           regimen=ldnsim.Regimen.repeat(dose, every=24.0, count=56),
                           method="rodas5p")


def main():
    print("8 weeks of daily doses, last week: hours/day with PET inhibition above 0.4/0.5/0.6; "
          "brain receptor density at the end (1 = untreated)")
    for dose in (3.0, 4.5):
        for label, hyp, p in [("up-regulation off (as fitted)", "tonic",
                               {"w_tonic": 0.0, "w_rebound": 0.0}),
                              ("tonic", "tonic", None), ("rebound", "rebound", None)]:
            ds = daily(dose, hyp, p)
            hours = [float(blockade_hours(ds, "pet_inhibition", th, last_days=7).blockade_hours)
                     for th in (0.4, 0.5, 0.6)]
            print(f"  {dose:>4} mg/day  {label:<30} " + " / ".join(f"{h:4.1f}" for h in hours)
                  + f"   density {float(ds.receptor_density[-1]):.2f}")
    print("single 50 mg: PET inhibition at 48/72/120/168 h (Lee 1988: 0.865/0.76/0.437/0.285)")
    t = np.array([0.0, 48.0, 72.0, 120.0, 168.0])
    for label, hyp, p in [("up-regulation off (as fitted)", "tonic",
                           {"w_tonic": 0.0, "w_rebound": 0.0}),
                          ("tonic", "tonic", None), ("rebound", "rebound", None)]:
        ds = ldnsim.simulate(MODEL, t, params=p, scenarios=BASE + (hyp,),
                             regimen=ldnsim.Regimen.single(50.0), method="rodas5p")
        print(f"  {label:<30} " + " / ".join(f"{v:.3f}" for v in ds.pet_inhibition.values[1:])
              + f"   density at 168 h {float(ds.receptor_density[-1]):.2f}")


if __name__ == "__main__":
    main()
