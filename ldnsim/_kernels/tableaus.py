"""Method coefficients as module constants (no logic here).

Rosenbrock methods are stored in Hairer's *transformed* form (Hairer & Wanner, Solving ODEs II,
IV.7, eq. 7.25), as used by ``rodas.f`` and OrdinaryDiffEq.jl: with ``W = I/(h*gamma) - J``,

    W k_i = f(t + c_i h, y + sum_j A[i, j] k_j) + sum_j (C[i, j] / h) k_j + h d_i f_t(t, y)
    y_new = y + sum_j M[j] k_j,     error estimate = k_{s-1}  (the last stage)

and dense output ``y(theta) = (1-theta) y0 + theta (y1 + (1-theta)(D0 + theta (D1 + theta D2)))``
with ``D_r = sum_j H[r, j] k_j``.

Explicit Runge-Kutta methods are stored as Butcher tableaus (scipy ``_ivp/rk.py`` layout):
``A`` (s, s), ``B`` (s,), ``C`` (s,), error weights ``E`` (s+1,) including the FSAL stage, and
the dense-output matrix ``P`` (s+1, 4).
"""
import numpy as np

# --------------------------------------------------------------------------------------------
# Rodas5P: G. Steinebach, "Construction of Rosenbrock-Wanner method Rodas5P and numerical
# benchmarks within the Julia Differential Equations package", BIT Numer. Math. 63 (2023) 27,
# doi:10.1007/s10543-023-00967-x. Values as published in OrdinaryDiffEq.jl
# (rosenbrock_tableaus.jl, Rodas5PTableau). 8 stages, order 5, embedded order 4, stiffly
# accurate, dense output of order 4.
RODAS5P_GAMMA = 0.21193756319429014

_a = {
    (1, 0): 3.0,
    (2, 0): 2.849394379747939, (2, 1): 0.45842242204463923,
    (3, 0): -6.954028509809101, (3, 1): 2.489845061869568, (3, 2): -10.358996098473584,
    (4, 0): 2.8029986275628964, (4, 1): 0.5072464736228206, (4, 2): -0.3988312541770524,
    (4, 3): -0.04721187230404641,
    (5, 0): -7.502846399306121, (5, 1): 2.561846144803919, (5, 2): -11.627539656261098,
    (5, 3): -0.18268767659942256, (5, 4): 0.030198172008377946,
}
_C = {
    (1, 0): -14.155112264123755,
    (2, 0): -17.97296035885952, (2, 1): -2.859693295451294,
    (3, 0): 147.12150275711716, (3, 1): -1.41221402718213, (3, 2): 71.68940251302358,
    (4, 0): 165.43517024871676, (4, 1): -0.4592823456491126, (4, 2): 42.90938336958603,
    (4, 3): -5.961986721573306,
    (5, 0): 24.854864614690072, (5, 1): -3.0009227002832186, (5, 2): 47.4931110020768,
    (5, 3): 5.5814197821558125, (5, 4): -0.6610691825249471,
    (6, 0): 30.91273214028599, (6, 1): -3.1208243349937974, (6, 2): 77.79954646070892,
    (6, 3): 34.28646028294783, (6, 4): -19.097331116725623, (6, 5): -28.087943162872662,
    (7, 0): 37.80277123390563, (7, 1): -3.2571969029072276, (7, 2): 112.26918849496327,
    (7, 3): 66.9347231244047, (7, 4): -40.06618937091002, (7, 5): -54.66780262877968,
    (7, 6): -9.48861652309627,
}
RODAS5P_A = np.zeros((8, 8))
for (_i, _j), _v in _a.items():
    RODAS5P_A[_i, _j] = _v
# Stages 7 and 8 (and y_new) continue from stage 6's input by adding k6, k7 (and k8): the
# method is stiffly accurate, so y_new = stage-8 input + k8 and k8 is the error estimate.
RODAS5P_A[6, :6] = RODAS5P_A[5, :6]
RODAS5P_A[6, 5] = 1.0
RODAS5P_A[7, :7] = RODAS5P_A[6, :7]
RODAS5P_A[7, 6] = 1.0
RODAS5P_M = RODAS5P_A[7].copy()
RODAS5P_M[7] = 1.0
RODAS5P_C = np.zeros((8, 8))
for (_i, _j), _v in _C.items():
    RODAS5P_C[_i, _j] = _v
RODAS5P_c = np.array([0.0, 0.6358126895828704, 0.4095798393397535, 0.9769306725060716,
                      0.4288403609558664, 1.0, 1.0, 1.0])
RODAS5P_d = np.array([0.21193756319429014, -0.42387512638858027, -0.3384627126235924,
                      1.8046452872882734, 2.325825639765069, 0.0, 0.0, 0.0])
RODAS5P_H = np.array([
    [25.948786856663858, -2.5579724845846235, 10.433815404888879, -2.3679251022685204,
     0.524948541321073, 1.1241088310450404, 0.4272876194431874, -0.17202221070155493],
    [-9.91568850695171, -0.9689944594115154, 3.0438037242978453, -24.495224566215796,
     20.176138334709044, 15.98066361424651, -6.789040303419874, -6.710236069923372],
    [11.419903575922262, 2.8879645146136994, 72.92137995996029, 80.12511834622643,
     -52.072871366152654, -59.78993625266729, -0.15582684282751913, 4.883087185713722],
])
RODAS5P_ORDER = 5
RODAS5P_ERROR_ORDER = 4


# How a stage's input is formed (``steps.rosenbrock_step``), per row of [A; M]:
STAGE_SUM = 0    # y + sum_j A[i, j] k_j
STAGE_CHAIN = 1  # stage i-1's input plus k_{i-1} (row i = row i-1 + e_{i-1}, exactly)
STAGE_F0 = 2     # the input is y and c_i = 0: f there is f(t, y), which the step is given


def _stage_inputs(A, M, c):
    """(s+1,) int64 codes, one per stage and one for y_new (``STAGE_*``)."""
    rows = np.vstack([A, M])
    out = np.full(rows.shape[0], STAGE_SUM, np.int64)
    for i in range(1, rows.shape[0]):
        if i < A.shape[0] and c[i] == 0.0 and not rows[i].any():
            out[i] = STAGE_F0
            continue
        if i < 2:
            continue
        e = np.zeros(rows.shape[1])
        e[i - 1] = 1.0
        if out[i - 1] != STAGE_F0 and np.array_equal(rows[i], rows[i - 1] + e):
            out[i] = STAGE_CHAIN
    return out


# stages 7, 8 and y_new chain
RODAS5P_STAGE_INPUTS = _stage_inputs(RODAS5P_A, RODAS5P_M, RODAS5P_c)

# --------------------------------------------------------------------------------------------
# Rodas3: A. Sandu, J. G. Verwer, J. G. Blom, E. J. Spee, G. R. Carmichael, F. A. Potra,
# "Benchmarking stiff ODE solvers for atmospheric chemistry problems II: Rosenbrock solvers",
# Atmos. Environ. 31 (1997) 3459-3472, doi:10.1016/S1352-2310(97)83212-8. Values as in
# OrdinaryDiffEq.jl (rosenbrock_tableaus.jl, Rodas3Tableau). 4 stages, order 3, embedded
# order 2, L-stable and stiffly accurate (y_new = stage-4 input + k4, error estimate k4).
# Stage 2 is evaluated at (t, y) (its A row and c are zero), so it reuses f(t, y): a step
# evaluates 2 new right-hand sides in its stages (Rodas5P: 7) plus f at the new point (both:
# the next step's first stage), and solves 4 linear systems (Rodas5P: 8). It has no dense
# output of its own; the driver uses the cubic Hermite interpolant through y and f at both
# ends of the step.
RODAS3_GAMMA = 0.5
RODAS3_A = np.zeros((4, 4))
RODAS3_A[2, 0] = 2.0
RODAS3_A[3, 0] = 2.0
RODAS3_A[3, 2] = 1.0
RODAS3_C = np.zeros((4, 4))
RODAS3_C[1, 0] = 4.0
RODAS3_C[2, :2] = [1.0, -1.0]
RODAS3_C[3, :3] = [1.0, -1.0, -8.0 / 3.0]
RODAS3_M = np.array([2.0, 0.0, 1.0, 1.0])
RODAS3_c = np.array([0.0, 0.0, 1.0, 1.0])
RODAS3_d = np.array([0.5, 1.5, 0.0, 0.0])
# stage 2 reuses f(t, y); stage 4 and y_new chain
RODAS3_STAGE_INPUTS = _stage_inputs(RODAS3_A, RODAS3_M, RODAS3_c)
RODAS3_ORDER = 3
RODAS3_ERROR_ORDER = 2

# --------------------------------------------------------------------------------------------
# Dormand-Prince 5(4): J. R. Dormand, P. J. Prince, J. Comput. Appl. Math. 6 (1980) 19-26;
# dense output of order 4 (Shampine 1986) in the form of scipy.integrate RK45.
DOPRI5_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0])
DOPRI5_A = np.array([
    [0, 0, 0, 0, 0],
    [1 / 5, 0, 0, 0, 0],
    [3 / 40, 9 / 40, 0, 0, 0],
    [44 / 45, -56 / 15, 32 / 9, 0, 0],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
], dtype=np.float64)
DOPRI5_B = np.array([35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84])
DOPRI5_E = np.array([-71 / 57600, 0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40])
DOPRI5_P = np.array([
    [1, -8048581381 / 2820520608, 8663915743 / 2820520608, -12715105075 / 11282082432],
    [0, 0, 0, 0],
    [0, 131558114200 / 32700410799, -68118460800 / 10900136933, 87487479700 / 32700410799],
    [0, -1754552775 / 470086768, 14199869525 / 1410260304, -10690763975 / 1880347072],
    [0, 127303824393 / 49829197408, -318862633887 / 49829197408, 701980252875 / 199316789632],
    [0, -282668133 / 205662961, 2019193451 / 616988883, -1453857185 / 822651844],
    [0, 40617522 / 29380423, -110615467 / 29380423, 69997945 / 29380423],
], dtype=np.float64)
DOPRI5_ORDER = 5
DOPRI5_ERROR_ORDER = 4

del _a, _C, _i, _j, _v
