"""The radial feeder under CES-OPF, in per unit, as the branch flow model (004 III.A.5) needs it:
each bus but the substation has one parent line, with its resistance, reactance and current limit.

004 ran on the SCE 56-bus feeder (its ref. [27]). No installed package ships that feeder
(pandapower's `networks` have none), so the substitute is pandapower's IEEE 33-bus `case33bw`
(Baran and Wu, 004's ref. [11]): 12.66 kV, 32 in-service lines (the five open tie lines are left
out, so the feeder is radial), the case's bus voltage limits (0.9..1.1 pu) and line current limits
(none binding: pandapower's table gives 99,999 kA), and its loads as each bus's uncontrollable
peak.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class RadialFeeder:
    """Buses 0..n-1, bus 0 the substation (v = 1 pu). `parent[j]` feeds bus j (parent[0] = -1);
    r, x in pu of the line into j, `i_max` its current limit in pu (inf: none); per bus its
    uncontrollable peak load in kW and reactive ratio q/p, and voltage limits in pu."""

    name: str
    base_kv: float
    base_mva: float
    parent: tuple[int, ...]
    r: tuple[float, ...]
    x: tuple[float, ...]
    i_max: tuple[float, ...]
    peak_kw: tuple[float, ...]
    q_ratio: tuple[float, ...]
    v_min: float
    v_max: float

    def __post_init__(self) -> None:
        n = len(self.parent)
        if any(len(column) != n for column in (self.r, self.x, self.i_max, self.peak_kw, self.q_ratio)):
            raise ValueError("every per-bus column needs one value per bus")
        if self.parent[0] != -1 or any(not 0 <= self.parent[j] < n for j in range(1, n)):
            raise ValueError("bus 0 is the root; every other bus needs a parent bus")
        for j in range(1, n):  # radial: walking up from any bus reaches the root
            seen, k = 0, j
            while k != 0:
                k, seen = self.parent[k], seen + 1
                if seen > n:
                    raise ValueError(f"bus {j} does not reach the substation: the feeder has a loop")

    @property
    def buses(self) -> int:
        return len(self.parent)

    def children(self, bus: int) -> list[int]:
        return [j for j in range(1, self.buses) if self.parent[j] == bus]

    def scaled(self, impedance: float) -> "RadialFeeder":
        """The same feeder with every line's r and x times `impedance` (a test's near-lossless
        feeder)."""
        return RadialFeeder(self.name, self.base_kv, self.base_mva, self.parent,
                            tuple(v * impedance for v in self.r), tuple(v * impedance for v in self.x),
                            self.i_max, self.peak_kw, self.q_ratio, self.v_min, self.v_max)


def case33bw() -> RadialFeeder:
    """pandapower's `case33bw`, its in-service (radial) lines, in per unit of 1 MVA."""
    import pandapower.networks as pn

    net = pn.case33bw()
    base_kv = float(net.bus.vn_kv.iloc[0])
    base_mva = 1.0
    z_base = base_kv**2 / base_mva
    i_base_ka = base_mva / (math.sqrt(3) * base_kv)
    n = len(net.bus)
    parent, r, x, i_max = [-1] * n, [0.0] * n, [0.0] * n, [math.inf] * n
    lines = net.line[net.line.in_service]
    if len(lines) != n - 1:
        raise ValueError(f"case33bw: {len(lines)} in-service lines for {n} buses is not radial")
    for line in lines.itertuples():
        # orient each line away from the substation: the case lists them that way
        parent[int(line.to_bus)] = int(line.from_bus)
        r[int(line.to_bus)] = line.r_ohm_per_km * line.length_km / z_base
        x[int(line.to_bus)] = line.x_ohm_per_km * line.length_km / z_base
        i_max[int(line.to_bus)] = line.max_i_ka / i_base_ka if line.max_i_ka < 1e4 else math.inf
    peak_kw, q_ratio = [0.0] * n, [0.0] * n
    for load in net.load.itertuples():
        peak_kw[int(load.bus)] += load.p_mw * 1000
        q_ratio[int(load.bus)] = load.q_mvar / load.p_mw if load.p_mw else 0.0
    others = net.bus.index != net.ext_grid.bus.iloc[0]
    return RadialFeeder("case33bw", base_kv, base_mva, tuple(parent), tuple(r), tuple(x), tuple(i_max),
                        tuple(peak_kw), tuple(q_ratio), float(net.bus.min_vm_pu[others].min()),
                        float(net.bus.max_vm_pu[others].max()))
