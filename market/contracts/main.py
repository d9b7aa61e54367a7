"""Main contract of Khalid et al. (002, Algorithm 1): the one participants talk to.

It is the operator of the P2P market (which its deployer sets up in ZONE mode naming it),
registers participants on the operator's word, answers the market time, and routes requests: a
surplus becomes an offer and a deficit a demand in the P2P market (value sent with it is
credited to the participant there). Clearing a closed window matches P2P first and sends the
residual deficits and surpluses to the grid contract (Algorithm 1, line 8); bills come from the
grid contract.

It holds no money: value sent with `surplus` or `deficit` is credited to the sender in the P2P
market at once, and every other call refuses value (sent with one, it would be locked for good).
"""


def setup(p2p, grid):
    """The deployer names the P2P market (set up in ZONE mode with this contract as its
    operator) and the grid contract."""
    _no_value()
    require(sender() == deployer(), "only the deployer sets the main contract up")
    require(get("operator") is None, "already set up")
    require(call(p2p, "params")[0] == 1, "the P2P market must run the zone mechanism")
    put("operator", sender())
    put("p2p", p2p)
    put("grid", grid)


def _no_value():
    require(value() == 0, "only surplus and deficit take value")


def register(participant, zone, prosumer):
    _no_value()
    require(sender() == get("operator"), "operator only")
    call(get("p2p"), "register", participant, zone, prosumer)


def market_time():
    _no_value()
    return call(get("p2p"), "current_window")


def surplus(window, energy_wh, price, order_id):
    return call_value(get("p2p"), "post_for", value(), sender(), window, 1, energy_wh, price, order_id)


def deficit(window, energy_wh, order_id):
    return call_value(get("p2p"), "post_for", value(), sender(), window, 0, energy_wh, 0, order_id)


def clear(window):
    _no_value()
    return call(get("p2p"), "clear", window, 1)


def trading_result(window):
    _no_value()
    return call(get("p2p"), "result", window)


def bill(who):
    _no_value()
    return call(get("grid"), "bill_of", who)


def monthly_bill(who, month):
    _no_value()
    return call(get("grid"), "monthly_bill", who, month)


def contracts():
    _no_value()
    return [get("p2p"), get("grid")]
