"""ADMM aggregator S1 of 001's scheduling model (Salian et al., IV.B, Fig. 3): "S1: ADMM aggregator,
on blockchain, compute final schedule and clearing prices until optimal".

The day-ahead exchange problem over T intervals, minimise sum_i f_i(x_i) subject to
sum_i x_i[t] = 0, x_i[t] the net export of member i in Wh (+ export, - import; the utility is a
member that supplies at TOU and takes exports at FIT), is solved by exchange ADMM (Boyd et al.
2011, Sec. 7.3.2). Each member computes its own x-update off chain, privately ("P(i): private
optimization, compute locally"), and submits it here once per round; this contract does the rest
in integers:

    xbar^{k+1} = (sum_i x_i^{k+1}) * 1000 // N            milli-Wh (floor)
    w^{k+1} = w^k - xbar^{k+1}                             milli-Wh; w = -u, Boyd's scaled dual
    price[t] = RHO * w[t] // 1000                          milli-cents per kWh

RHO is 1000 * rho (rho in milli-cents per Wh^2): the price moves RHO milli-cents per kWh for each
Wh of mean imbalance. w starts at price0 * 1000 // RHO, the deployer's opening price. A member's
update reads xbar^k and w^k from `close`'s output or the views.

Rounds: round k is open from the interval its predecessor closed in; each member submits its T
values once. It closes (`close`, anyone) when every member has submitted, or once `round_intervals`
chain intervals have passed since it opened: a member who missed it keeps its previous x_i (its
first is all zeros). The contract keeps the running sum of every member's latest x and the sum of
the round's squared changes, so a submission costs O(T) and a close O(T), whatever N; the close
that fixes the schedule also writes it by interval (O(N * T), once: about 500,000 gas at the
bounds), so that billing reads an interval of every member in one storage read.

Convergence (Boyd 3.3.1, for the exchange form, where z_i = x_i - xbar): the primal residual
||xbar^{k+1}|| (Wh) at most eps_pri and the dual residual
rho * sqrt(sum_i ||(x_i^{k+1} - x_i^k) - (xbar^{k+1} - xbar^k)||^2), in milli-cents per kWh, at most
eps_dual, both compared squared in integers, in a round every member submitted in (a member who
missed it kept an x that is not its update). The schedule is then final and converged. It is
final but flagged unconverged when round MAX_ROUNDS (the deployer's, at most 256) closes first, or
when a round closes once delivery has started (interval `first`): the last iterate (every
member's latest x, the latest prices) is the schedule. Published prices are clamped to
0 .. 2**31 - 1 milli-cents per kWh (the kernels' bound); w itself is not.

Bounds: at most 64 members, 96 intervals, |x| < max_wh <= 2**24 Wh. Only the members named at
setup may submit, once per round, so no one else can slow a round; the round bound and the
deadline bound how long any member can hold the schedule up.
"""

MAX_MEMBERS = 64
MAX_INTERVALS = 96
MAX_ROUNDS = 256
MAX_WH = 16777216  # 2**24 Wh
MAX_PRICE = 2147483648  # 2**31 milli-cents per kWh
MAX_RHO = 1000000
MAX_AHEAD = 100000  # delivery starts at most this many chain intervals after setup
MAX_ROUND_INTERVALS = 96
RUNNING = 0
CONVERGED = 1
UNCONVERGED = 2  # final: MAX_ROUNDS reached or delivery started first
# Indices into params.
P_N = 0
P_T = 1
P_RHO = 2
P_EPS_PRI = 3
P_EPS_DUAL = 4
P_MAX_ROUNDS = 5
P_FIRST = 6
P_ROUND_INTERVALS = 7
P_MAX_WH = 8
# Indices into the round record.
R_K = 0
R_OPENED = 1
R_COUNT = 2
R_DX2 = 3  # sum over this round's submissions of ||x_new - x_old||^2, Wh^2
R_STATUS = 4


def _no_value():
    """S1 holds no money: value sent with a call would sit here, held for no one."""
    require(value() == 0, "this call takes no money")


def setup(members, intervals, rho, eps_pri, eps_dual, max_rounds, first, round_intervals, max_wh, price0):
    """The deployer names the members (the utility among them), T, RHO, the tolerances (Wh and
    milli-cents per kWh), the round bound, the first delivery interval the schedule covers
    (chain intervals first .. first + T - 1), each round's deadline in chain intervals, the bound
    on |x| and the opening price."""
    _no_value()
    require(sender() == deployer(), "only the deployer sets the scheduler up")
    require(get("params") is None, "already set up")
    require(0 < len(members) and len(members) <= MAX_MEMBERS, "1.." + str(MAX_MEMBERS) + " members")
    require(0 < intervals and intervals <= MAX_INTERVALS, "1.." + str(MAX_INTERVALS) + " intervals")
    require(0 < rho and rho <= MAX_RHO, "RHO is 1.." + str(MAX_RHO) + " milli-cents per kWh per Wh")
    require(0 <= eps_pri and eps_pri < MAX_WH and 0 <= eps_dual and eps_dual < MAX_PRICE, "bad tolerances")
    require(0 < max_rounds and max_rounds <= MAX_ROUNDS, "1.." + str(MAX_ROUNDS) + " rounds")
    require(interval() < first and first <= interval() + MAX_AHEAD, "delivery must start in a later interval")
    require(0 < round_intervals and round_intervals <= MAX_ROUND_INTERVALS, "a round's deadline is 1..96 intervals")
    require(0 < max_wh and max_wh <= MAX_WH, "max_wh is 1..2**24")
    require(0 <= price0 and price0 < MAX_PRICE, "the opening price is 0..2**31 - 1")
    kept = []
    for i in range(len(members)):
        m = members[i]
        require(len(m) == 20, "a member is a 20-byte address")
        require(get(b"M" + m) is None, "members must differ")
        put(b"M" + m, i)
        kept.append(m)
    put("members", kept)
    put("w", [price0 * 1000 // rho] * intervals)
    put("xbar", [0] * intervals)
    put("sum", [0] * intervals)
    put("params", [len(members), intervals, rho, eps_pri, eps_dual, max_rounds, first, round_intervals, max_wh])
    put("round", [1, interval(), 0, 0, RUNNING])
    emit("setup", len(members), intervals, rho, first)


def _params():
    p = get("params")
    require(p is not None, "scheduler not set up")
    return p


def submit(round_no, xs):
    """A member's x_i^{k+1} for the current round: T integers with |x| < max_wh."""
    _no_value()
    p = _params()
    me = sender()
    require(get(b"M" + me) is not None, "not a member of this schedule")
    r = get("round")
    require(r[R_STATUS] == RUNNING, "the schedule is final")
    require(round_no == r[R_K], "not the current round (" + str(r[R_K]) + ")")
    now = interval()
    require(now < r[R_OPENED] + p[P_ROUND_INTERVALS], "the round's deadline has passed: it awaits its close")
    require(now < p[P_FIRST], "delivery has started: the schedule awaits its close")
    require(get(b"R" + me, 0) < r[R_K], "already submitted in this round")
    require(len(xs) == p[P_T], "a schedule has " + str(p[P_T]) + " intervals")
    old = get(b"X" + me)
    total = list(get("sum"))
    bound = p[P_MAX_WH]
    dx2 = 0
    new = []
    for t in range(p[P_T]):
        x = xs[t]
        require(-bound < x and x < bound, "|x| must be below " + str(bound) + " Wh")
        d = x
        if old is not None:
            d = x - old[t]
        dx2 += d * d
        total[t] = total[t] + d
        new.append(x + 0)  # an int, whatever integer-like value was sent
    put(b"X" + me, new)
    put(b"R" + me, r[R_K])
    put("sum", total)
    put("round", [r[R_K], r[R_OPENED], r[R_COUNT] + 1, r[R_DX2] + dx2, RUNNING])
    return r[R_COUNT] + 1


def _isqrt(n):
    """floor(sqrt(n)) by Newton's method, in integers."""
    if n < 2:
        return n
    x = n
    y = (x + 1) // 2
    while y < x:
        x = y
        y = (x + n // x) // 2
    return x


def _prices(w, rho):
    out = []
    for v in w:
        out.append(min(max(rho * v // 1000, 0), MAX_PRICE - 1))
    return out


def _column_key(t):
    return b"C" + to_bytes(t, 1)


def _put_columns(intervals):
    """The final schedule by interval, every member's x in member order: billing reads one
    interval of all members, which from the members' rows would cost a row read per member
    (O(N * T) an interval, beyond the CLI's gas with 64 members of 16 meters). Once, O(N * T)."""
    rows = []
    for m in get("members"):
        rows.append(get(b"X" + m, [0] * intervals))
    for t in range(intervals):
        column = []
        for x in rows:
            column.append(x[t])
        put(_column_key(t), column)


def close():
    """Close the current round (anyone): once every member submitted, its deadline passed, or
    delivery started. Updates xbar and w, checks the residuals, and opens the next round or
    fixes the schedule. Returns [round, status, primal residual mWh, dual residual milli-cents
    per kWh, xbar (mWh), w (mWh), prices]."""
    _no_value()
    p = _params()
    r = get("round")
    require(r[R_STATUS] == RUNNING, "the schedule is final")
    now = interval()
    require(r[R_COUNT] == p[P_N] or now >= r[R_OPENED] + p[P_ROUND_INTERVALS] or now >= p[P_FIRST],
            "the round waits for its members until interval " + str(r[R_OPENED] + p[P_ROUND_INTERVALS]))
    n = p[P_N]
    rho = p[P_RHO]
    total = list(get("sum"))
    before = get("xbar")
    w = list(get("w"))
    xbar = []
    r2 = 0
    db2 = 0
    for t in range(p[P_T]):
        xb = total[t] * 1000 // n
        xbar.append(xb)
        r2 += xb * xb
        db2 += (xb - before[t]) * (xb - before[t])
        w[t] = w[t] - xb
    # sum_i ||dx_i - dxbar||^2 = sum_i ||dx_i||^2 - N ||dxbar||^2 (sum_i dx_i = N dxbar), in Wh^2;
    # xbar is in milli-Wh, hence the 10**6.
    s2 = rho * rho * max(0, 1000000 * r[R_DX2] - n * db2) // 1000000
    status = RUNNING
    if r[R_COUNT] == n and r2 <= p[P_EPS_PRI] * p[P_EPS_PRI] * 1000000 and s2 <= p[P_EPS_DUAL] * p[P_EPS_DUAL]:
        status = CONVERGED
    elif r[R_K] >= p[P_MAX_ROUNDS] or now >= p[P_FIRST]:
        status = UNCONVERGED
    primal = _isqrt(r2)
    dual = _isqrt(s2)
    prices = _prices(w, rho)
    put("xbar", xbar)
    put("w", w)
    put("residual:" + str(r[R_K]), [primal, dual, r[R_COUNT]])
    if status == RUNNING:
        put("round", [r[R_K] + 1, now, 0, 0, RUNNING])
    else:
        put("round", [r[R_K], r[R_OPENED], r[R_COUNT], r[R_DX2], status])
        put("final", [status, r[R_K], now, prices])
        _put_columns(p[P_T])
    emit("closed", r[R_K], status, primal, dual)
    return [r[R_K], status, primal, dual, xbar, w, prices]


# --- views -------------------------------------------------------------------------------------


def params():
    """[members, T, RHO, eps_pri, eps_dual, max_rounds, first, round_intervals, max_wh]."""
    _no_value()
    return get("params")


def members():
    _no_value()
    return get("members")


def current_round():
    """[round, opened in interval, submissions, sum of squared changes, status]."""
    _no_value()
    return get("round")


def xbar():
    _no_value()
    return get("xbar")


def dual():
    """w = -u in milli-Wh."""
    _no_value()
    return get("w")


def prices():
    """The current price per interval (milli-cents per kWh), clamped to 0 .. 2**31 - 1."""
    _no_value()
    return _prices(get("w"), _params()[P_RHO])


def residual(round_no):
    """[primal residual milli-Wh, dual residual milli-cents per kWh, submissions] of a closed round."""
    _no_value()
    return get("residual:" + str(round_no))


def schedule(member):
    """A member's latest x (Wh per interval); zeros before its first submission."""
    _no_value()
    p = _params()
    return get(b"X" + member, [0] * p[P_T])


def final():
    """[status (1 converged, 2 unconverged), rounds, interval it was fixed in, prices], or None
    while the schedule is still being computed."""
    _no_value()
    return get("final")


def interval_schedule(k):
    """For billing: [price, every member's x in member order, the members] of schedule interval
    k, once the schedule is final; None before."""
    _no_value()
    f = get("final")
    if f is None:
        return None
    p = _params()
    require(0 <= k and k < p[P_T], "no such interval in the schedule")
    return [f[3][k], get(_column_key(k)), get("members")]
