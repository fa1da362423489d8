"""Test data: stiff reference problems with published reference solutions, and small models
with closed-form solutions, as ``@numba.njit`` functions ``rhs(t, y, p, dydt)`` and
``jac(t, y, p, J)`` that write in place (the solver's calling convention).

Test Set problems (ROBER, OREGO, VDPOLM, VDPOL, POLLU): F. Mazzia, C. Magherini et al., "Test Set
for IVP Solvers", University of Bari (release 2.4, 2008, https://archimede.dm.uniba.it/~testset/),
as distributed in the Fortran problem files (rober.f, orego.f, vdpol.f, vdpolm.f, pollu.f) and in
the R package deTestSet (K. Soetaert, F. Mazzia; R/ex_reference.R, src/Ex_pollution.f). The
reference values at the final time were computed there with RADAU5 at rtol = atol = 1.1e-18;
they were re-checked against scipy Radau at tight tolerances (~1e-13 relative). The numbers are
copied here so the project never reads files outside its repository.

Parameters travel in ``p`` (float64 arrays), never as globals, so one compiled function serves
every parameter set. Only module-level constant *structure* (POLLU's stoichiometry) is global.
"""
import numpy as np
from numba import njit


def mescd(y, ref, rtol, atol):
    """Test Set "mixed error significant correct digits" (deTestSet, R/ex_crank.R):
    ``min_i -log10(|y_i - ref_i| / (atol/rtol + |ref_i|))``. An exact component counts as
    17 digits (double precision) rather than +inf."""
    y, ref = np.asarray(y, float), np.asarray(ref, float)
    err = np.abs(y - ref) / (atol / rtol + np.abs(ref))
    err = np.maximum(err, 1e-17)
    return float(np.min(-np.log10(err)))


# ==================================================================================== ROBER (3)
# Robertson's autocatalytic reaction, t in [0, 1e11].
ROBER_P = np.array([0.04, 3.0e7, 1.0e4])  # k1, k2, k3
ROBER_Y0 = np.array([1.0, 0.0, 0.0])
ROBER_T1 = 1.0e11
ROBER_REF = np.array([0.2083340149701255e-07, 0.8333360770334713e-13, 0.9999999791665050])
# ROBER at t = 1e5 is not published; computed with scipy Radau (rtol 1e-13, atol 1e-22,
# analytic Jacobian), good to ~1e-13 relative.
ROBER_REF_1E5 = np.array([0.017865921142100154, 7.274751468436565e-08, 0.9821340061103905])


@njit
def rober_rhs(t, y, p, dydt):
    k1, k2, k3 = p[0], p[1], p[2]
    dydt[0] = -k1 * y[0] + k3 * y[1] * y[2]
    dydt[1] = k1 * y[0] - k2 * y[1] * y[1] - k3 * y[1] * y[2]
    dydt[2] = k2 * y[1] * y[1]


@njit
def rober_jac(t, y, p, J):
    k1, k2, k3 = p[0], p[1], p[2]
    J[0, 0] = -k1
    J[0, 1] = k3 * y[2]
    J[0, 2] = k3 * y[1]
    J[1, 0] = k1
    J[1, 1] = -2.0 * k2 * y[1] - k3 * y[2]
    J[1, 2] = -k3 * y[1]
    J[2, 0] = 0.0
    J[2, 1] = 2.0 * k2 * y[1]
    J[2, 2] = 0.0


# ==================================================================================== OREGO (3)
# Oregonator (Belousov-Zhabotinskii reaction), t in [0, 360].
OREGO_P = np.array([77.27, 8.375e-6, 0.161])  # s, q, w
OREGO_Y0 = np.array([1.0, 2.0, 3.0])
OREGO_T1 = 360.0
OREGO_REF = np.array([0.1000814870318523e1, 0.1228178521549917e4, 0.1320554942846706e3])


@njit
def orego_rhs(t, y, p, dydt):
    s, q, w = p[0], p[1], p[2]
    dydt[0] = s * (y[1] - y[0] * y[1] + y[0] - q * y[0] * y[0])
    dydt[1] = (-y[1] - y[0] * y[1] + y[2]) / s
    dydt[2] = w * (y[0] - y[2])


@njit
def orego_jac(t, y, p, J):
    s, q, w = p[0], p[1], p[2]
    J[0, 0] = s * (-y[1] + 1.0 - 2.0 * q * y[0])
    J[0, 1] = s * (1.0 - y[0])
    J[0, 2] = 0.0
    J[1, 0] = -y[1] / s
    J[1, 1] = (-1.0 - y[0]) / s
    J[1, 2] = 1.0 / s
    J[2, 0] = w
    J[2, 1] = 0.0
    J[2, 2] = -w


# ================================================================= VDPOLM (2): unscaled, mu = 1000
# van der Pol oscillator in the "modified" (unscaled) form of vdpolm.f, t in [0, 2000].
VDPOLM_P = np.array([1.0e3])  # mu
VDPOLM_Y0 = np.array([2.0, 0.0])
VDPOLM_T1 = 2000.0
VDPOLM_REF = np.array([0.1706167732170469e1, -0.8928097010248125e-3])


@njit
def vdpolm_rhs(t, y, p, dydt):
    mu = p[0]
    dydt[0] = y[1]
    dydt[1] = mu * (1.0 - y[0] * y[0]) * y[1] - y[0]


@njit
def vdpolm_jac(t, y, p, J):
    mu = p[0]
    J[0, 0] = 0.0
    J[0, 1] = 1.0
    J[1, 0] = -2.0 * mu * y[0] * y[1] - 1.0
    J[1, 1] = mu * (1.0 - y[0] * y[0])


# ==================================================================== VDPOL (2): scaled, eps = 1e-6
# van der Pol oscillator in Hairer & Wanner's scaled form (vdpol.f), t in [0, 2].
VDPOL_P = np.array([1.0e-6])  # eps
VDPOL_Y0 = np.array([2.0, 0.0])
VDPOL_T1 = 2.0
VDPOL_REF = np.array([0.1706167732170483e1, -0.8928097010247975e0])


@njit
def vdpol_rhs(t, y, p, dydt):
    eps = p[0]
    dydt[0] = y[1]
    dydt[1] = ((1.0 - y[0] * y[0]) * y[1] - y[0]) / eps


@njit
def vdpol_jac(t, y, p, J):
    eps = p[0]
    J[0, 0] = 0.0
    J[0, 1] = 1.0
    J[1, 0] = (-2.0 * y[0] * y[1] - 1.0) / eps
    J[1, 1] = (1.0 - y[0] * y[0]) / eps


# ==================================================================================== POLLU (20)
# Air pollution model (Verwer 1994; RIVM), 20 species, 25 reactions, t in [0, 60].
POLLU_P = np.array([.35, .266e2, .123e5, .86e-3, .82e-3, .15e5, .13e-3, .24e5, .165e5, .9e4,
                    .22e-1, .12e5, .188e1, .163e5, .48e7, .35e-3, .175e-1, .1e9, .444e12, .124e4,
                    .21e1, .578e1, .474e-1, .178e4, .312e1])  # k1..k25
POLLU_Y0 = np.zeros(20)
POLLU_Y0[[1, 3, 6, 7, 8, 16]] = [0.2, 0.04, 0.1, 0.3, 0.01, 0.007]
POLLU_T1 = 60.0
POLLU_REF = np.array([0.5646255480022769e-01, 0.1342484130422339e+00, 0.4139734331099427e-08,
                      0.5523140207484359e-02, 0.2018977262302196e-06, 0.1464541863493966e-06,
                      0.7784249118997964e-01, 0.3245075353396018e+00, 0.7494013383880406e-02,
                      0.1622293157301561e-07, 0.1135863833257075e-07, 0.2230505975721359e-02,
                      0.2087162882798630e-03, 0.1396921016840158e-04, 0.8964884856898295e-02,
                      0.4352846369330103e-17, 0.6899219696263405e-02, 0.1007803037365946e-03,
                      0.1772146513969984e-05, 0.5682943292316392e-04])

# Reaction j has rate k_j * y[R1[j]] (* y[R2[j]] when R2[j] >= 0).
POLLU_R1 = np.array([0, 1, 4, 6, 6, 6, 8, 8, 10, 10, 12, 9, 13, 0, 2, 3, 3, 15, 15, 16, 18, 18,
                     0, 18, 19], dtype=np.int64)
POLLU_R2 = np.array([-1, 3, 1, -1, -1, 5, -1, 5, 1, 0, -1, 1, -1, 5, -1, -1, -1, -1, -1, 5, -1,
                     -1, 3, 0, -1], dtype=np.int64)


@njit
def _pollu_rates(y, k, r):
    r[0] = k[0] * y[0]
    r[1] = k[1] * y[1] * y[3]
    r[2] = k[2] * y[4] * y[1]
    r[3] = k[3] * y[6]
    r[4] = k[4] * y[6]
    r[5] = k[5] * y[6] * y[5]
    r[6] = k[6] * y[8]
    r[7] = k[7] * y[8] * y[5]
    r[8] = k[8] * y[10] * y[1]
    r[9] = k[9] * y[10] * y[0]
    r[10] = k[10] * y[12]
    r[11] = k[11] * y[9] * y[1]
    r[12] = k[12] * y[13]
    r[13] = k[13] * y[0] * y[5]
    r[14] = k[14] * y[2]
    r[15] = k[15] * y[3]
    r[16] = k[16] * y[3]
    r[17] = k[17] * y[15]
    r[18] = k[18] * y[15]
    r[19] = k[19] * y[16] * y[5]
    r[20] = k[20] * y[18]
    r[21] = k[21] * y[18]
    r[22] = k[22] * y[0] * y[3]
    r[23] = k[23] * y[18] * y[0]
    r[24] = k[24] * y[19]


@njit
def _pollu_f(r, f):
    f[0] = -r[0] - r[9] - r[13] - r[22] - r[23] + r[1] + r[2] + r[8] + r[10] + r[11] + r[21] + r[24]
    f[1] = -r[1] - r[2] - r[8] - r[11] + r[0] + r[20]
    f[2] = -r[14] + r[0] + r[16] + r[18] + r[21]
    f[3] = -r[1] - r[15] - r[16] - r[22] + r[14]
    f[4] = -r[2] + 2.0 * r[3] + r[5] + r[6] + r[12] + r[19]
    f[5] = -r[5] - r[7] - r[13] - r[19] + r[2] + 2.0 * r[17]
    f[6] = -r[3] - r[4] - r[5] + r[12]
    f[7] = r[3] + r[4] + r[5] + r[6]
    f[8] = -r[6] - r[7]
    f[9] = -r[11] + r[6] + r[8]
    f[10] = -r[8] - r[9] + r[7] + r[10]
    f[11] = r[8]
    f[12] = -r[10] + r[9]
    f[13] = -r[12] + r[11]
    f[14] = r[13]
    f[15] = -r[17] - r[18] + r[15]
    f[16] = -r[19]
    f[17] = r[19]
    f[18] = -r[20] - r[21] - r[23] + r[22] + r[24]
    f[19] = -r[24] + r[23]


@njit
def pollu_rhs(t, y, p, dydt):
    r = np.empty(25)
    _pollu_rates(y, p, r)
    _pollu_f(r, dydt)


@njit
def pollu_jac(t, y, p, J):
    # f = S r(y) with S the stoichiometry; column c of J is S @ (d r / d y_c). S @ e_j is
    # obtained by applying _pollu_f to the unit rate vector e_j (exact: small integers).
    n = y.size
    for i in range(n):
        for c in range(n):
            J[i, c] = 0.0
    e = np.zeros(25)
    s = np.empty(n)
    for j in range(25):
        e[j] = 1.0
        _pollu_f(e, s)
        e[j] = 0.0
        a = POLLU_R1[j]
        b = POLLU_R2[j]
        if b < 0:
            da = p[j]
            db = 0.0
        else:
            da = p[j] * y[b]
            db = p[j] * y[a]
        for i in range(n):
            if s[i] != 0.0:
                J[i, a] += s[i] * da
                if b >= 0:
                    J[i, b] += s[i] * db


# Registry: name -> (rhs, jac, y0, p, t1, ref, Test Set atol as a function of rtol).
# Test Set convention (release 2.4, section "Numerical solution of the problem" of each problem,
# the settings of its published work-precision runs; mescd is computed with the same atol):
#   ROBER: atol = 1e-4 * rtol (y2 is ~1e-13..4e-5, so an absolute floor far below the
#          components' scale; mescd then measures y2 against atol/rtol = 1e-4),
#   OREGO, VDPOLM, VDPOL, POLLU: atol = rtol.
TESTSET = {
    "rober": (rober_rhs, rober_jac, ROBER_Y0, ROBER_P, ROBER_T1, ROBER_REF,
              lambda rtol: 1e-4 * rtol),
    "orego": (orego_rhs, orego_jac, OREGO_Y0, OREGO_P, OREGO_T1, OREGO_REF, lambda rtol: rtol),
    "vdpolm": (vdpolm_rhs, vdpolm_jac, VDPOLM_Y0, VDPOLM_P, VDPOLM_T1, VDPOLM_REF,
               lambda rtol: rtol),
    "vdpol": (vdpol_rhs, vdpol_jac, VDPOL_Y0, VDPOL_P, VDPOL_T1, VDPOL_REF, lambda rtol: rtol),
    "pollu": (pollu_rhs, pollu_jac, POLLU_Y0, POLLU_P, POLLU_T1, POLLU_REF, lambda rtol: rtol),
}


# ======================================================== small problems with known solutions
@njit
def limit_cycle_rhs(t, y, p, dydt):
    """Smooth nonlinear 2-D system: in polar form r' = a r (1 - r^2), theta' = w."""
    a, w = p[0], p[1]
    g = a * (1.0 - y[0] * y[0] - y[1] * y[1])
    dydt[0] = g * y[0] - w * y[1]
    dydt[1] = w * y[0] + g * y[1]


@njit
def limit_cycle_jac(t, y, p, J):
    a, w = p[0], p[1]
    g = a * (1.0 - y[0] * y[0] - y[1] * y[1])
    J[0, 0] = g - 2.0 * a * y[0] * y[0]
    J[0, 1] = -2.0 * a * y[0] * y[1] - w
    J[1, 0] = -2.0 * a * y[0] * y[1] + w
    J[1, 1] = g - 2.0 * a * y[1] * y[1]


def limit_cycle_exact(t, y0, p):
    """Exact solution of :func:`limit_cycle_rhs` from ``y0`` at t = 0 (t an array)."""
    a, w = p
    t = np.asarray(t, float)
    r0 = np.hypot(y0[0], y0[1])
    th0 = np.arctan2(y0[1], y0[0])
    r = 1.0 / np.sqrt(1.0 + (1.0 / r0**2 - 1.0) * np.exp(-2.0 * a * t))
    th = th0 + w * t
    return np.stack([r * np.cos(th), r * np.sin(th)], axis=-1)


@njit
def prothero_robinson_rhs(t, y, p, dydt):
    """Stiff, non-autonomous: y' = -lam (y - sin(w t)) + w cos(w t); exact y = sin(w t) when
    y(0) = 0 (p = [lam, w]); each component uses lam * (i + 1)."""
    lam, w = p[0], p[1]
    for i in range(y.size):
        dydt[i] = -lam * (i + 1) * (y[i] - np.sin(w * t)) + w * np.cos(w * t)


@njit
def prothero_robinson_jac(t, y, p, J):
    lam = p[0]
    for i in range(y.size):
        for j in range(y.size):
            J[i, j] = 0.0
        J[i, i] = -lam * (i + 1)


@njit
def forced_decay_rhs(t, y, p, dydt):
    """y' = -y + sin(t) (p unused): exact y(t) = C e^{-t} + (sin t - cos t) / 2."""
    for i in range(y.size):
        dydt[i] = -y[i] + np.sin(t)


@njit
def forced_decay_jac(t, y, p, J):
    for i in range(y.size):
        for j in range(y.size):
            J[i, j] = 0.0
        J[i, i] = -1.0


def forced_decay_exact(t, t0, y0):
    c = (y0 - 0.5 * (np.sin(t0) - np.cos(t0))) * np.exp(t0)
    return c * np.exp(-t) + 0.5 * (np.sin(t) - np.cos(t))


# ------------------------------------------------------- one-compartment PK with first-order
# absorption: y0 = amount in gut, y1 = amount in central; p = [ka, ke, R] with R a zero-order
# input rate into central (a parameter slot switched by kind-1 events: infusions).
@njit
def onecpt_rhs(t, y, p, dydt):
    ka, ke, rate = p[0], p[1], p[2]
    dydt[0] = -ka * y[0]
    dydt[1] = ka * y[0] - ke * y[1] + rate


@njit
def onecpt_jac(t, y, p, J):
    ka, ke = p[0], p[1]
    J[0, 0] = -ka
    J[0, 1] = 0.0
    J[1, 0] = ka
    J[1, 1] = -ke


# A linear decay chain y0 -> y1 -> ... (any length; 10 states put it on the sparse LU):
# p = [k_in, k_out].
@njit
def chain_rhs(t, y, p, dydt):
    dydt[0] = -p[0] * y[0]
    for i in range(1, y.size):
        dydt[i] = p[0] * y[i - 1] - p[1] * y[i]


@njit
def chain_jac(t, y, p, J):
    J[:, :] = 0.0
    J[0, 0] = -p[0]
    for i in range(1, y.size):
        J[i, i - 1] = p[0]
        J[i, i] = -p[1]


def bateman(t, dose_times, amounts, ka, ke):
    """Superposition of Bateman functions: gut and central amounts at times ``t`` for oral
    boluses into the gut. Right-continuous: a dose at exactly t counts at t."""
    t = np.asarray(t, float)[:, None]
    td = np.asarray(dose_times, float)[None, :]
    amt = np.asarray(amounts, float)[None, :]
    dt = t - td
    on = dt >= 0.0
    dt = np.where(on, dt, 0.0)
    gut = np.sum(np.where(on, amt * np.exp(-ka * dt), 0.0), axis=1)
    # ka/(ka-ke) (e^{-ke dt} - e^{-ka dt}) written with expm1 for accuracy at small dt.
    cen = np.sum(np.where(on, amt * ka / (ka - ke) * np.exp(-ke * dt)
                          * -np.expm1(-(ka - ke) * dt), 0.0), axis=1)
    return np.stack([gut, cen], axis=1)


def infusion_central(t, start, stop, rate, ke):
    """Central amount for a zero-order infusion of ``rate`` over [start, stop), from 0."""
    t = np.asarray(t, float)
    during = np.clip(t, start, stop) - start  # time infused so far
    after = np.maximum(t - stop, 0.0)
    return rate / ke * -np.expm1(-ke * during) * np.exp(-ke * after)


# --------------------------------------------------------------------------- non-stiff problems
@njit
def oscillator_rhs(t, y, p, dydt):
    """Harmonic oscillator y'' = -w^2 y: exact y = cos(w t), y' = -w sin(w t) from (1, 0)."""
    w = p[0]
    dydt[0] = y[1]
    dydt[1] = -w * w * y[0]


@njit
def lotka_volterra_rhs(t, y, p, dydt):
    a, b, c, d = p[0], p[1], p[2], p[3]
    dydt[0] = a * y[0] - b * y[0] * y[1]
    dydt[1] = -c * y[1] + d * y[0] * y[1]


# ---------------------------------------------------- random smooth systems (scipy comparison)
@njit
def random_system_rhs(t, y, p, dydt):
    """y' = A y + eps * sin(y) + b * cos(t)-forcing, A (n, n) = p[:n*n] row-major,
    b = p[n*n:n*n+n], eps = p[n*n+n]. One compiled function for every size and seed."""
    n = y.size
    eps = p[n * n + n]
    ct = np.cos(t)
    for i in range(n):
        acc = 0.0
        for j in range(n):
            acc += p[i * n + j] * y[j]
        dydt[i] = acc + eps * np.sin(y[i]) + p[n * n + i] * ct


@njit
def random_system_jac(t, y, p, J):
    n = y.size
    eps = p[n * n + n]
    for i in range(n):
        for j in range(n):
            J[i, j] = p[i * n + j]
        J[i, i] += eps * np.cos(y[i])


def random_system(seed, n):
    """A random stable system: A = Q diag(-lambda) Q^T + skew part, eigenvalues of the
    symmetric part in [-50, -0.2] (mildly stiff), mild nonlinearity eps = 0.3."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = np.exp(rng.uniform(np.log(0.2), np.log(50.0), n))
    s = rng.standard_normal((n, n))
    a = q @ np.diag(-lam) @ q.T + 0.5 * (s - s.T)
    b = rng.uniform(-1.0, 1.0, n)
    p = np.concatenate([a.ravel(), b, [0.3]])
    y0 = rng.uniform(-1.0, 1.0, n)
    return y0, p


def random_system_numpy(n, p):
    a = p[:n * n].reshape(n, n)
    b = p[n * n:n * n + n]
    eps = p[n * n + n]

    def f(t, y):
        return a @ y + eps * np.sin(y) + b * np.cos(t)

    def jac(t, y):
        return a + np.diag(eps * np.cos(y))

    return f, jac


# ------------------------------------------------------------------------------- blow-up
@njit
def blowup_rhs(t, y, p, dydt):
    """y' = p0 * y^2: y = y0 / (1 - p0 y0 t) blows up at t = 1 / (p0 y0)."""
    for i in range(y.size):
        dydt[i] = p[0] * y[i] * y[i]


@njit
def blowup_jac(t, y, p, J):
    for i in range(y.size):
        for j in range(y.size):
            J[i, j] = 0.0
        J[i, i] = 2.0 * p[0] * y[i]


# ------------------------------------------------------------- very stiff relaxation pair
@njit
def relax_rhs(t, y, p, dydt):
    """y0 relaxes onto y1 at rate p0 (very stiff), y1 decays slowly: from y = (1, 1),
    y ~ exp(-0.1 t)."""
    dydt[0] = -p[0] * (y[0] - y[1])
    dydt[1] = -0.1 * y[1]


@njit
def relax_jac(t, y, p, J):
    J[0, 0] = -p[0]
    J[0, 1] = p[0]
    J[1, 0] = 0.0
    J[1, 1] = -0.1
