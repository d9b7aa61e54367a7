"""The distribution feeder under a community: pandapower's IEEE 33-bus case (`case33bw`, the
feeder Nakayama et al., 000, ran on), one AC power flow per interval.

The case's own loads (3.7 MW at peak) are shaped over the day by a BDEW household profile
normalised to its peak, and each market member adds its net load (consumption less production)
at its bus, times `households_per_member` (one member may stand for a street). Reported per
interval: the lowest and highest bus voltage, the largest line current, the losses, and whether a
voltage left the statutory band. Off chain and in floats: it is the utility's view of what the
market did, not something any node agrees on.
"""

from __future__ import annotations

from dataclasses import dataclass

V_MIN_PU = 0.95
V_MAX_PU = 1.05


@dataclass(frozen=True)
class FeederInterval:
    interval: int
    v_min_pu: float
    v_max_pu: float
    max_line_current_a: float
    losses_kw: float

    @property
    def voltage_violation(self) -> bool:
        return self.v_min_pu < V_MIN_PU or self.v_max_pu > V_MAX_PU


def power_flow(member_net_load_wh: dict[int, list[int]], base_shape: list[float], interval_minutes: int,
               households_per_member: float = 1.0) -> list[FeederInterval]:
    """`member_net_load_wh`: bus -> net load (Wh per interval, negative when exporting) of the
    members on it; `base_shape`: the case loads' factor per interval (1.0 = the case's peak)."""
    import pandapower as pp
    import pandapower.networks as pn

    net = pn.case33bw()
    base_p = net.load.p_mw.copy()
    base_q = net.load.q_mvar.copy()
    buses = sorted(member_net_load_wh)
    extra = pp.create_loads(net, buses, p_mw=0.0, q_mvar=0.0) if buses else []
    hours = interval_minutes / 60
    out = []
    for k, shape in enumerate(base_shape):
        net.load.loc[base_p.index, "p_mw"] = base_p * shape
        net.load.loc[base_q.index, "q_mvar"] = base_q * shape
        for index, bus in zip(extra, buses):
            net.load.at[index, "p_mw"] = member_net_load_wh[bus][k] / hours / 1e6 * households_per_member
        pp.runpp(net, numba=False)
        out.append(FeederInterval(k, float(net.res_bus.vm_pu.min()), float(net.res_bus.vm_pu.max()),
                                  float(net.res_line.i_ka.max() * 1000), float(net.res_line.pl_mw.sum() * 1000)))
    return out
