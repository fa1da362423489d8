"""Everything the dose explorer knows about one particular model, in one place.

The rest of ``ldnsim.app`` is generic: it reads the model's outputs and scenarios and looks the
names below up in them. When the model changes (new output names, new or renamed scenarios),
this module is the one to edit. A name listed here that the model does not have makes the page
show a message instead of failing, and ``tests/test_app.py`` fails until this module and the
shipped model agree again (``ldnsim.app.logic.content_problems``).

Written for the second version of ``models/ldn.toml``; every number in the texts below is a
value of that file or of its model card (``models/README.md``), every ``[key]`` an entry of
``models/REFERENCES.md``.

Kinds used by the evidence panel, as the model card grades evidence: ``"data"`` (fitted to or
checked against measurements), ``"assumption"`` (a value or definition chosen without data) and
``"hypothesis"`` (a proposed mechanism, not established).
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

# Scenario controls, one per group, in this order. The scenarios of a group are alternatives
# (one is chosen); the first is the default; None is "no scenario of this group" (the model's
# own values), labelled NO_SCENARIO_LABEL. Scenarios of different groups must combine (set
# different parameters): a test checks it against the model.
SCENARIO_GROUPS = (
    ("Formulation", ("pharmaceutical", "racemic")),
    ("PET retention", ("human_pet", "slow_biophase")),
    ("Benefit hypothesis", ("tonic", "rebound")),
    ("TLR4 arm", ("trif_branch", "nfkb_branch")),
    ("Sensitivity", (None, "immune_via_mor", "extended_release")),
)
NO_SCENARIO_LABEL = "none (the model file's values)"
SCENARIO_LABELS = {
    "pharmaceutical": "pharmaceutical ((\u2212) enantiomer)",
    "racemic": "racemic 50:50 (counterfactual)",
    "human_pet": "Meyer PK, retention pool (human_pet)",
    "slow_biophase": "Meyer PK, slow equilibration (slow_biophase)",
    "tonic": "tonic up-regulation",
    "rebound": "rebound after blockade",
    "trif_branch": "TRIF/IRF3 (Wang 2016)",
    "nfkb_branch": "NF-\u03baB (popular hypothesis)",
    "immune_via_mor": "immune cells read MOR, not OGFr",
    "extended_release": "extended-release tablet (Contrave)",
}
# Scenarios of the model this page does not offer, and why (shown on the page).
SCENARIOS_LEFT_OUT = {
    "mouse": ("The model's mouse scenario is not offered here: it simulates Zagon's "
              "experiments in a 25 g mouse (subcutaneous doses in mg per mouse, rodent PK, "
              "no 6\u03b2-naltrexol), not a person taking tablets, and does not fit a human "
              "mg/day slider (experiments/blockade_duration.toml runs it). For orientation "
              "only: body-surface scaling puts Zagon's 0.1 mg/kg at about 0.57 mg for a "
              "70 kg adult; the model does not use this translation.",
              ("reaganshaw2008", "zagon1984")),
    "mouse_sc_long": ("The model's second mouse scenario (mouse_sc_long: a long subcutaneous "
                      "plasma phase instead of brain retention) is not offered either, for "
                      "the same reason.", ("misra1976", "zagon1983")),
    "pk_label": ("The other pharmacokinetic branch (pk_label: plasma PK fitted to the labels, "
                 "about 3\u00d7 the exposure derived from Meyer 1984, with the PET parameters "
                 "refitted to it) is not offered: this page uses the default (Meyer) branch. "
                 "The two sources conflict; the model card shows both, and "
                 "experiments/immunomodulatory_window_label.toml runs the headline under the "
                 "label branch.", ("fdalabel", "swisslabel", "meyer1984")),
}

# ---------------------------------------------------------------------------------- simulation
STEADY_STATE_DAYS = 56           # days of daily dosing simulated before the week shown
DENSE_DAYS = 7                   # the last days are sampled finely (plots and metrics) ...
DENSE_STEP = 0.25                # ... every 15 min; ...
COARSE_STEP = 1.0                # ... earlier days every hour (daily means of the signal)
STEADY_STATE_RTOL = 0.01         # last two days differing by more than this: say so on the page
# Checked for steady state (each is a fraction or relative to untreated, so scale 1): the
# blockade readout, the receptor densities behind it and the immune readout.
STEADY_STATE_OUTPUTS = ("pet_inhibition", "receptor_density", "receptor_density_ogfr",
                        "immune_index")

# ----------------------------------------------------------------------------------- panels
# Plasma panel: (output, label) drawn over the last week.
PLASMA_OUTPUTS = (("C_ntx", "naltrexone"), ("C_6bn", "6\u03b2-naltrexol"))

# Brain panel: every output of this list the model has is drawn over the last day; the first
# one it has defines the hours of blockade. pet_inhibition is what [11C]carfentanil PET reports
# and what the window's blockade criterion reads; bound/total differs from it once the
# receptor density changes.
BRAIN_OUTPUTS = (
    ("pet_inhibition", "PET inhibition (1 \u2212 available / baseline available)"),
    ("occupancy_mor_drug", "MOR bound by drug / total MOR (not what PET reports)"),
)
BLOCKADE_THRESHOLD = 0.5         # the blockade readout above this counts as blockade
BLOCKADE_LAST_DAYS = 7           # hours of blockade per day: mean over the last week

# Immune-cell panel (the periphery, driven by unbound plasma drug): receptor occupancies over
# the last day.
PERIPHERAL_OUTPUTS = (
    ("occupancy_ogfr", "OGF receptor (OGFr) bound by drug"),
    ("occupancy_mor_peripheral", "MOR on immune cells bound by drug"),
    ("occupancy_kor", "KOR bound by drug"),
)

# The immune readout, drawn over the whole run with the signal it reads (that signal swings
# within each day: drawn as its daily mean and range); the readout's final value is shown as
# a number.
IMMUNE_OUTPUT = "immune_index"
IMMUNE_LABEL = "immune readout (immune-cell proliferative activity, untreated = 1)"
IMMUNE_SIGNAL = ("signal_immune", "opioid signal read by immune cells")
IMMUNE_TITLE = "Immune cells over {days} days (hypothesis)"
IMMUNE_BASELINE = 1.0

# The window plot comes from this experiment (shipped name or path), run once and cached.
WINDOW_EXPERIMENT = "app_window"
WINDOW_QUANTILES = (0.05, 0.5, 0.95)   # band and median across samples, as the headline
WINDOW_OPEN = 0.5                      # P(window open) at which a dose is shaded as open
TRIAL_DOSE = 4.5                       # the dose of the positive LDN trials (evidence panel)

# ------------------------------------------------------------------------- evidence and sources
REFERENCES_FILE = "REFERENCES.md"    # beside the model file: "### key" headings, entry below

# One entry per part of the page: the panel it explains (a key of View.series, or "blockade",
# "window", "trials"), what it is, how well it is founded, and its sources (keys of the
# references file). The window text is filled in from the window run ({n_samples} ...).
EVIDENCE = (
    {"panel": "plasma", "part": "Plasma naltrexone and 6\u03b2-naltrexol", "kind": "data",
     "text": "Two-compartment kinetics of both, with 6\u03b2-naltrexol formed in the first "
             "pass. Two sources conflict: the labels' 50 mg exposure is about 3x what Meyer "
             "1984 measured. This page uses the Meyer branch (the model's default: Meyer 1984's "
             "50-200 mg half-lives, AUC and urinary 6\u03b2-naltrexol, Wall 1981's terminal "
             "half-life), which the Contrave label (16 mg) supports; the model card shows the "
             "label branch beside it. All these data are at 16-200 mg: at LDN doses the curves "
             "are a linear extrapolation. The 6\u03b2-naltrexol disposition parameters are not "
             "identified.",
     "refs": ("swisslabel", "fdalabel", "meyer1984", "wall1981", "contravelabel")},
    {"panel": "brain", "part": "Brain \u03bc-opioid receptors (MOR) over a day", "kind": "data",
     "text": "PET inhibition is what [11C]carfentanil PET reports, fitted to peak inhibition "
             "after single 2-50 mg doses, Lee 1988's 1 h reference scan and the decay 48-168 h "
             "after 50 mg, and day 4 of 50 mg/day (13 observations, all within 1.6 SD). The "
             "fitted in vivo Kd with the Meyer PK, 0.26 nM (profile 0.059-0.32), lies inside "
             "the in vitro range 0.11-1.1 nM; whether brain receptors up-regulate is not "
             "determined by these data (drawn in the window plot). The "
             "data are single doses and one 50 mg/day regimen: the low-dose daily steady "
             "state is a prediction, and why blockade outlasts plasma naltrexone is not known "
             "(see the PET retention scenario). Dashed: receptors bound by drug over all "
             "receptors, which exceeds PET inhibition once receptors are up-regulated.",
     "refs": ("rabiner2011", "lee1988", "weerts2008")},
    {"panel": "blockade", "part": "Hours of blockade per day", "kind": "assumption",
     "text": "Hours per day with PET inhibition above 0.5, mean of the last week. The "
             "threshold and the window's limit of 10 h/day come from mice: once-daily "
             "blockade under 10 h/day slowed tumours, 24 h/day sped them up. There, blockade "
             "was a functional measure (loss of morphine analgesia); transferring it to human "
             "brain PET is an assumption, and the model's mouse fit shows the two are not the "
             "same thing.",
     "refs": ("zagon1984",)},
    {"panel": "peripheral", "part": "Receptors on immune cells", "kind": "assumption",
     "text": "Driven by unbound plasma naltrexone and 6\u03b2-naltrexol (21% protein "
             "binding), equilibrium binding competing with OGF. MOR: naltrexone Ki 0.3 nM, "
             "within the in vitro range 0.11-1.1 nM read at second hand. OGFr: naltrexone's "
             "affinity is unpublished; assumed 10 times its MOR Ki (the window run samples "
             "1-100 times). KOR: Ki 0.19 nM (naltrexone) and 7.24 nM (6\u03b2-naltrexol), "
             "read at second hand. The unbound fraction of 6\u03b2-naltrexol is assumed equal "
             "to naltrexone's.",
     "refs": ("swisslabel", "wentland2009", "cassel2005", "pelotte2009", "zagon2002")},
    {"panel": "immune", "part": "Immune readout", "kind": "hypothesis",
     "text": "The OGF hypothesis: opioid growth factor signalling brakes immune-cell "
             "proliferation. The readout falls when the signal immune cells read (OGFr; "
             "peripheral MOR under immune_via_mor) stays above untreated, and means something "
             "in sign and ranking only, not in size. How daily naltrexone could raise the "
             "signal is the benefit hypothesis chosen above. Only the size of receptor "
             "up-regulation is data (+80% after 8 days of continuous blockade, mouse brain), "
             "transferred to human immune cells.",
     "refs": ("zagon2002", "lesscher2003")},
    {"panel": "window", "part": "Window plot", "kind": "hypothesis",
     "text": "A draw is in the window when at least half of its virtual subjects end the "
             "{days:g} days with the immune readout at least {margin:g} below untreated and "
             "have at most {hours:g} h/day of brain blockade (PET inhibition > {threshold:g}) "
             "over the last week; P(window open) is the share of draws in the window, the "
             "definition of the headline experiment. Uncertainty: {n_samples} draws, each of "
             "the fitted parameters (PK from the fit's covariance; Kd, the brain retention "
             "pool, 6BN's brain share and brain receptor up-regulation together from the PET "
             "posterior), of the hypothesis parameters no data constrain ({sampled}; declared "
             "ranges, never tuned to produce a window) and of {n_subjects} virtual subject(s) "
             "with assumed PK variability (no oral population PK with variances is "
             "published). The headline runs 200 draws; this smaller run moves in steps of "
             "1/{n_samples}.",
     # the same for a window run without [uncertainty] (parameter samples only)
     "text_samples": "A parameter sample is in the window when at least half of its virtual "
                     "subjects end the {days:g} days with the immune readout at least "
                     "{margin:g} below untreated and have at most {hours:g} h/day of brain "
                     "blockade (PET inhibition > {threshold:g}) over the last week; P(window "
                     "open) is the share of samples in the window, the definition of the "
                     "headline experiment. Uncertainty: {n_samples} Latin-hypercube samples of "
                     "the hypothesis parameters no data constrain ({sampled}; declared ranges, "
                     "never tuned to produce a window) \u00d7 {n_subjects} virtual subjects "
                     "with assumed PK variability. Not included: the uncertainty of the fitted "
                     "parameters (the headline draws it, 200 draws); this run moves in steps of "
                     "1/{n_samples}.",
     "refs": ("zagon1984", "lesscher2003")},
    {"panel": "trials", "part": "4.5 mg/day and the clinical trials", "kind": "data",
     "text": "Trials (a consistency check, not fitted): positive at 4.5 mg/day in Crohn's "
             "disease, fibromyalgia and multiple sclerosis; null at 4.5 mg/day (multiple "
             "sclerosis) and 6 mg/day (fibromyalgia). The headline experiment puts 4.5 mg/day "
             "in the window in 1% of draws under the tonic hypothesis and none under rebound: "
             "the brain is blocked round the clock in most draws from 3 mg/day on. Either the "
             "trials' benefit does not run "
             "through the mechanism modelled here (they measured symptoms, not OGF signalling "
             "or immune cells), or the model is wrong where it is weakest: the blockade "
             "criterion, the peripheral affinities, the benefit mechanism itself.",
     # added when the window run has the trial dose:
     "run_text": "This page's smaller run gives P(window open) at {dose:g} mg/day: {values}. "
                 "Daily blockade jumps from none to round the clock between about 1.5 and 3 "
                 "mg/day (the middle window plot), below this dose.",
     "refs": ("smith2011", "younger2013", "cree2010", "sharafaddinzadeh2010", "bruun2024")},
)

# Shown with the description the model itself carries, for the scenarios chosen:
# name -> (kind, text, references).
SCENARIO_NOTES = {
    "pharmaceutical": (
        "data", "Naltrexone hydrochloride tablets are a single (\u2212) enantiomer (the "
        "label's chemical name).", ("fdalabel", "contravelabel")),
    "racemic": (
        "hypothesis", "A counterfactual: the 50:50 mixture claimed in popular LDN sources is "
        "not supported by the label chemistry. The (+) isomer is given the same kinetics (an "
        "assumption) and has no opioid affinity, so a racemic dose carries half the "
        "opioid-active drug; its TLR4 antagonism (IC50 105.5 \u00b5M) leaves TLR4 inhibition "
        "below 0.1% at 0.5-300 mg/day.", ("lewis2012", "wang2016")),
    "human_pet": (
        "assumption", "Why blockade outlasts plasma naltrexone is modelled by a slow brain "
        "retention pool, a phenomenological mechanism fitted to the PET data with the Meyer-branch "
        "PK (the default). Slow brain equilibration (slow_biophase) is the labelled "
        "alternative hypothesis.",
        ("rabiner2011", "lee1988", "weerts2008")),
    "slow_biophase": (
        "hypothesis", "The alternative to the retention pool: the days-long PET blockade "
        "carried by slow brain equilibration (k_eo fitted to the same PET data, a half-time of "
        "about a day, implausible as uptake of a small lipophilic drug). The PET data reject "
        "it: it cannot reach the 1 h scan and overshoots the low doses. Not used in the "
        "headline; see the model card.", ("rabiner2011", "lee1988", "weerts2008")),
    "tonic": (
        "hypothesis", "Receptors up-regulate with drug occupancy (a saturable drive) and signal "
        "continuously, so the benefit needs no blockade: in the model's checks 1 mg/day "
        "dampens the immune readout with no brain blockade and OGFr occupancy below 0.5, and "
        "switching the tonic drive off removes the benefit. It is not the rebound of the LDN "
        "literature; the first version of the model had this mechanism under another name.",
        ("lesscher2003",)),
    "rebound": (
        "hypothesis", "Only blockade drives up-regulation and ligand build-up, which signal "
        "once the receptor is free again (Zagon's intermittent-blockade idea). This "
        "hypothesis opens no window: no dose of 0.25-10 mg/day lowers the immune readout at "
        "the file's values, and the headline's window opens in at most 1% of draws at any dose "
        "from 0.1 to 50 mg/day: the signal lost during blockade is not made up afterwards when "
        "up-regulation is bounded by +80%. In the mouse it does not reproduce Zagon's "
        "low-dose tumour slowing either.", ("zagon1984", "zagon1989", "lesscher2003")),
    "trif_branch": (
        "data", "(+)-Naltrexone inhibits the TRIF/IRF3 arm of TLR4 signalling, not NF-\u03baB. "
        "TLR4 does not matter at these doses: inhibition stays below 0.1% at 0.5-300 mg/day "
        "at the published potency.", ("wang2016",)),
    "nfkb_branch": (
        "hypothesis", "The popular hypothesis that TLR4 inhibition acts through NF-\u03baB, "
        "contradicted for NF-\u03baB by Wang 2016. TLR4 inhibition stays below 0.1% at "
        "0.5-300 mg/day either way.", ("hutchinson2008", "wang2016")),
    "immune_via_mor": (
        "hypothesis", "Sensitivity: immune cells read peripheral MOR instead of OGFr; which "
        "receptor carries the immune effect is not known.", ("zagon2002",)),
    "extended_release": (
        "data", "Absorption of Contrave's extended-release tablet, fitted to its label (16 "
        "mg: Cmax 1.4 ng/mL, Tmax 2 h).", ("contravelabel",)),
}
KIND_LABELS = {"data": "data", "assumption": "assumption", "hypothesis": "hypothesis"}
