"""Main contract of Khalid et al. (002, Algorithm 1): the one participants talk to.

It owns the P2P market (it sets it up, so it is that contract's operator), registers participants
on the operator's word, answers the market time, and routes requests: a surplus becomes an offer
and a deficit a demand in the P2P market (its deposit forwarded with the call), and a closed
window is cleared there. After clearing, residual deficits and surpluses go to the grid contract,
which the utility settles (`grid.settle_hour`).
"""


def setup(p2p, grid, fit, tou, alpha_ppm, window_ms, lead, span):
    require(get("operator") is None, "already set up")
    put("operator", sender())
    put("p2p", p2p)
    put("grid", grid)
    return call(p2p, "setup", fit, tou, alpha_ppm, window_ms, lead, span)


def register(participant, zone, prosumer):
    require(sender() == get("operator"), "operator only")
    call(get("p2p"), "register", participant, zone, prosumer)


def market_time():
    return call(get("p2p"), "current_window")


def surplus(window, energy_wh, price, order_id):
    return call(get("p2p"), "post_for", sender(), window, 1, energy_wh, price, order_id)


def deficit(window, energy_wh, order_id):
    p2p = get("p2p")
    cap = call(p2p, "cap")
    return call_value(p2p, "post_for", value(), sender(), window, 0, energy_wh, cap, order_id)


def clear(window):
    return call(get("p2p"), "clear", window)


def contracts():
    return [get("p2p"), get("grid")]
