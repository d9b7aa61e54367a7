"""Prosumer-to-grid contract (Khalid et al., 002, Algorithm 3): the grid's hourly price with the
peak and off-peak rule, and every participant's bills.

The utility sets it up with 24 base hourly prices and the peak and off-peak hours; the price of a
peak hour is the base times `peak_ppm`, of an off-peak hour times `off_peak_ppm` (002's text:
+20 % and -5 %, i.e. 1,200,000 and 950,000 ppm). The money of grid trades moves in the market
that routes them (the P2P market in ZONE mode buys residual demand here at this price and sells
surplus back at its own market price, 002's sellEnergy CPrice = MPrice); it reports each trade
with `bill`, which only markets the utility allowed may call. Bills accumulate per participant
and per 30-day month of the delivery window.

The grid contract holds no money and no function of it moves any: every call refuses value
(sent with a call here, it would be locked for good).
"""


def setup(peak_ppm, off_peak_ppm, hourly, peak, off_peak):
    _no_value()
    require(sender() == deployer(), "only the deployer (the utility) sets the grid up")
    require(get("params") is None, "already set up")
    require(len(hourly) == 24 and len(peak) == 24 and len(off_peak) == 24, "24 hourly entries each")
    require(0 < peak_ppm and peak_ppm <= 10000000 and 0 < off_peak_ppm and off_peak_ppm <= 10000000, "bad factors")
    for h in range(24):
        require(0 < hourly[h] and hourly[h] * max(peak_ppm, off_peak_ppm, 1000000) // 1000000 < 2147483648,
                "hourly prices are positive and stay below 2**31 after the peak factor")
    put("utility", sender())
    put("params", [peak_ppm, off_peak_ppm, list(hourly), list(peak), list(off_peak)])


def _no_value():
    require(value() == 0, "the grid contract takes no value")


def _params():
    p = get("params")
    require(p is not None, "grid contract not set up")
    return p


def price(hour):
    _no_value()
    p = _params()
    h = hour % 24
    base = p[2][h]
    if p[3][h]:
        return base * p[0] // 1000000
    if p[4][h]:
        return base * p[1] // 1000000
    return base


def allow(market):
    """The utility lets a market report grid trades."""
    _no_value()
    require(sender() == get("utility"), "utility only")
    require(len(market) == 20, "a market is a 20-byte address")
    put(b"A" + market, 1)


def bill(who, month, bought_wh, cost, sold_wh, revenue):
    _no_value()
    require(get(b"A" + sender()) is not None, "only an allowed market bills")
    for key in [b"B" + who, b"M" + to_bytes(month, 8) + who]:
        b = get(key, [0, 0, 0, 0])
        put(key, [b[0] + bought_wh, b[1] + cost, b[2] + sold_wh, b[3] + revenue])


def bill_of(who):
    """[Wh bought from the grid, cost, Wh sold to the grid, revenue] since the start."""
    _no_value()
    return get(b"B" + who, [0, 0, 0, 0])


def monthly_bill(who, month):
    _no_value()
    return get(b"M" + to_bytes(month, 8) + who, [0, 0, 0, 0])
