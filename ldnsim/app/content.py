"""Everything the dose explorer knows about one particular model, in one place.

The rest of ``ldnsim.app`` is generic: it reads the model's outputs and scenarios and looks the
names below up in them. When the model changes (new output names, new scenarios, a references
file), this module is the one to edit; a name listed here that the model does not have makes
the page show a message in that panel instead of failing.

Kinds used by the evidence panel: ``"data"`` (fitted to or checked against measurements),
``"hypothesis"`` (a proposed mechanism, calibrated at most qualitatively) and ``"assumption"``
(a definition or value chosen without data).
"""
from __future__ import annotations

# ---------------------------------------------------------------------------------- the model
MODEL = "ldn"                    # shipped model name (or a path)
DOSE_TARGET_UNIT = "mg"          # unit of a dose, as the model's dose_target takes it

TITLE = "ldnsim dose explorer: naltrexone, once daily"

# ------------------------------------------------------------------------------------ controls
DOSE_MIN, DOSE_MAX = 0.1, 300.0  # mg/day; the slider is logarithmic over this range
DOSE_DEFAULT = 4.5               # the usual LDN dose
DOSE_EVERY = 24.0                # h between doses (once daily)

# Scenario choices are read from the model: scenarios that set the same parameters are
# alternatives to each other and form one control. These names only give the controls their
# labels and defaults; a group with none of these names is labelled by its members.
SCENARIO_GROUP_LABELS = {
    "pharmaceutical": "Formulation",
    "racemic": "Formulation",
    "human_pet": "Receptor kinetics",
    "rodent_transient": "Receptor kinetics",
    "trif_branch": "TLR4 arm",
    "nfkb_branch": "TLR4 arm",
}
SCENARIO_DEFAULTS = ("pharmaceutical", "human_pet", "trif_branch")

# ---------------------------------------------------------------------------------- simulation
STEADY_STATE_DAYS = 56           # days of daily dosing simulated before the week shown
DENSE_DAYS = 7                   # the last days are sampled finely (plots and metrics) ...
DENSE_STEP = 0.25                # ... every 15 min; earlier days once a day
STEADY_STATE_RTOL = 0.01         # last two days differing by more than this: say so on the page

# ----------------------------------------------------------------------------------- panels
# Plasma panel: (output, label) drawn over the last week.
PLASMA_OUTPUTS = (("C_ntx", "naltrexone"), ("C_6bn", "6\u03b2-naltrexol"))

# Receptor panel: the first output of this list that the model has is drawn over the last day
# and defines the hours of blockade. pet_inhibition (1 - available/baseline available) is what
# PET reports; occupancy_mor_drug is bound/total, which differs from it when the receptor
# density changes.
RECEPTOR_OUTPUTS = (
    ("pet_inhibition", "PET inhibition (1 \u2212 available / baseline available)"),
    ("occupancy_mor_drug", "receptors bound by drug (bound / total; not what PET reports)"),
)
BLOCKADE_THRESHOLD = 0.5         # receptor readout above this counts as blockade
BLOCKADE_LAST_DAYS = 7           # hours of blockade per day: mean over the last week

# The immune readout: drawn over the whole run, its final value shown as a number.
IMMUNE_OUTPUT = "immune_index"
IMMUNE_LABEL = "immune readout (immune-cell proliferative activity, untreated = 1)"
IMMUNE_TITLE = "Immune readout over {days} days (hypothesis)"
IMMUNE_BASELINE = 1.0

# The window plot comes from this experiment (shipped name or path), run once and cached.
WINDOW_EXPERIMENT = "app_window"
WINDOW_QUANTILES = (0.1, 0.5, 0.9)   # band and median across virtual subjects

# ------------------------------------------------------------------------- evidence and sources
REFERENCES_FILE = "REFERENCES.md"    # beside the model file: "### key" headings, entry below

# Used when the references file is missing or lacks a key.
REFERENCES = {
    "label": "Naltrexone hydrochloride tablets, prescribing information (ReVia; Swiss and US "
             "labels): Cmax, Tmax, half-lives after 50 mg.",
    "meyer1984": "Meyer MC et al. (1984). Bioequivalence, dose-proportionality and "
                 "pharmacokinetics of naltrexone after oral administration. J Clin Psychiatry "
                 "45:15-19.",
    "rabiner2011": "Rabiner EA et al. (2011). Pharmacological differentiation of opioid "
                   "receptor antagonists by molecular and functional imaging of target "
                   "occupancy and food reward-related brain activation in humans. Mol "
                   "Psychiatry 16:826-835.",
    "lee1988": "Lee MC et al. (1988). Duration of occupancy of opiate receptors by naltrexone. "
               "J Nucl Med 29:1207-1211.",
    "weerts2008": "Weerts EM et al. (2008). Positron emission tomography imaging of mu- and "
                  "delta-opioid receptor binding in alcohol-dependent and healthy control "
                  "subjects. Alcohol Clin Exp Res 32:2162-2173.",
    "zagon1983": "Zagon IS, McLaughlin PJ (1983). Naltrexone modulates tumor response in mice "
                 "with neuroblastoma. Science 221:671-673.",
    "zagon1984": "Zagon IS, McLaughlin PJ (1984). Duration of opiate receptor blockade "
                 "determines tumorigenic response in mice with neuroblastoma. Life Sci "
                 "35:409-416.",
    "wang2016": "Wang X et al. (2016). Pharmacological characterization of the opioid "
                "inactive isomers (+)-naltrexone and (+)-naloxone as antagonists of toll-like "
                "receptor 4. Br J Pharmacol 173:856-869.",
}

# One entry per part of the page: what it shows, whether that is data or hypothesis, why,
# and its sources (keys of REFERENCES / the references file).
EVIDENCE = (
    {"part": "Plasma naltrexone and 6\u03b2-naltrexol", "kind": "data",
     "text": "Pharmacokinetics fitted to the label's 50 mg profile (Cmax, Tmax, half-lives) "
             "and assumed linear in dose (linear over 50-200 mg). At low doses the curves are "
             "extrapolations, and the sources disagree on total exposure by about threefold "
             "(model card, models/README.md).",
     "refs": ("label", "meyer1984")},
    {"part": "Receptor occupancy over a day", "kind": "data",
     "text": "Receptor kinetics fitted to human [11C]carfentanil PET: peak occupancy after "
             "single 2-50 mg doses, its decay over a week after 50 mg, and checked against "
             "steady state at 50 mg/day. The brain retention that makes blockade outlast the "
             "plasma levels is a phenomenological mechanism fitted to these points.",
     "refs": ("rabiner2011", "lee1988", "weerts2008")},
    {"part": "Hours of blockade per day", "kind": "assumption",
     "text": "Time per day with the receptor readout above the threshold, mean of the last "
             "week. The threshold is a definition, not a measurement; the 10 h/day limit of "
             "the window comes from tumour growth in mice.",
     "refs": ("zagon1984",)},
    {"part": "Immune readout", "kind": "hypothesis",
     "text": "Opioid (OGF) signalling brakes immune-cell proliferation; a rebound of "
             "signalling after a few hours of daily blockade would dampen it. A hypothesis "
             "calibrated only qualitatively: its direction and ranking across doses mean "
             "something, its magnitude does not.",
     "refs": ("zagon1983", "zagon1984")},
    {"part": "Window plot", "kind": "hypothesis",
     "text": "Doses where at least half of the virtual subjects have the immune readout at "
             "least 0.05 below untreated and at most 10 h/day of blockade. Between-subject "
             "variability of absorption, clearance and volume is assumed; that of receptor "
             "affinity is derived from the spread of three PET subjects at 5 mg.",
     "refs": ("zagon1984", "rabiner2011")},
)

# Shown beside the scenario descriptions the model itself carries, for the scenarios chosen.
SCENARIO_NOTES = {
    "racemic": ("hypothesis", "Pharmaceutical naltrexone is the pure (\u2212) enantiomer; the "
                "50:50 mixture is a counterfactual. (+)-Naltrexone does not act at opioid "
                "receptors and is a weak TLR4 antagonist (IC50 about 100 \u00b5M).",
                ("wang2016",)),
    "rodent_transient": ("hypothesis", "Transfers the 4-6 h/day blockade measured in mice to "
                         "human plasma levels; it does not match the human PET time course.",
                         ("zagon1983", "lee1988")),
}
KIND_LABELS = {"data": "data", "hypothesis": "hypothesis", "assumption": "assumption"}
