"""Proposer election rules: who proposes at (height, view).

Each rule ranks the validators once per height from committed chain state (so every replica
computes the same ranking and can check a proposer); every height starts at view 0, and view v is
proposed by ranking[v mod n]:
when the elected proposer is silent, the view changes and the next-ranked candidate proposes.

* `pbft`: Castro-Liskov primary by view, with PBFT's stable primary: the ranking starts at the
  proposer of the previous block, so a primary keeps proposing until it fails and view v of a
  height goes to the v-th validator after it (key order). Deriving the start from the committed
  chain, rather than carrying each replica's view counter across heights, means every replica
  starts a height in the same view even if some were mid view change when they committed.
* `pos`: Salian et al. (001, IV.C): W_k = alpha*E_k + beta*A_k + gamma*R_k and proposer =
  argmax W_k / U_k, U_k in (0, 1] from the height's seed and k; the paper's literal
  beta*A_k*k is a genesis option (see `PosElection`).
* `poe`: Siano et al. (003, V.F): best consumption-production function (argmax mode, ties
  broken by the height's seed) or a CPF-weighted lottery drawn with the height's seed (lottery
  mode).

The random part of a rule comes from `height_seed`, the chain id and the height, never from the
previous block: its proposer chooses that block's time to the millisecond and so its hash, and
could try times until the hash makes it the next proposer again (on a real chain, 1,000 tries
won a grinder 87-99 % of the blocks where the rule gives it 17-25 %:
tests/unit/test_election_grinding.py). A seed nobody chooses cannot be ground; that it is known
in advance changes nothing in a permissioned network where every member can compute the
ranking anyway (003: "every participant can predict which one has the chance").

Every rule runs under `Reputation` (leader reputation, in the spirit of DiemBFT's): a block
records whom its proposer was ranked below (`Header.skipped`), and a validator passed over goes
behind those in good standing for a while, so a silent validator the rule keeps ranking first
does not cost a view timeout at every height.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction
from typing import Protocol

from consensus.application import Application
from ledger.cpf import cpf_ppm
from ledger.genesis import DEFAULT_INTERVAL_MS, DEFAULT_POE_WH_PER_UNIT


class Election(Protocol):
    name: str

    def ranking(self, app: Application) -> list[bytes]:
        """Validators in proposing order for the next height, from committed state only."""


def _digest(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def height_seed(app: Application) -> bytes:
    """The election's randomness for the next height: the chain id and the height, which no
    proposer chooses (see the module's docstring)."""
    height = app.last_header().height + 1
    return _digest(b"pownode/election/seed", app.chain_id.encode(), height.to_bytes(8, "big"))


class PbftElection:
    name = "pbft"

    def ranking(self, app: Application) -> list[bytes]:
        keys = [key for key, _ in app.validators()]
        last = app.last_header().proposer
        start = keys.index(last) if last in keys else 0
        return keys[start:] + keys[:start]


class PosElection:
    """Wealth-weighted election. Parameters (genesis ints): pos_alpha, pos_beta, pos_gamma, and
    pos_age_index: 0 (the default) weighs age as beta*A_k; 1 is the paper's literal beta*A_k*k
    with k the 1-based position in the key-ordered validator list.

    The default drops the factor k because it rewards nothing a validator does: it multiplies
    the age term by where the validator's key happens to sort, so with equal E the last key wins
    most often (four equal validators over 600 heights propose about 15/22/28/35 % of blocks).
    Without it equal validators propose equal shares (tests/unit/test_election.py).
    """

    name = "pos"

    def wealth(self, app: Application) -> list[tuple[bytes, int]]:
        alpha = app.int_param("pos_alpha", 1)
        beta = app.int_param("pos_beta", 1000)
        gamma = app.int_param("pos_gamma", 100)
        age_index = app.int_param("pos_age_index", 0)
        if age_index not in (0, 1):
            raise ValueError(f"pos_age_index must be 0 or 1, not {age_index}")
        height = app.last_header().height + 1
        out = []
        for k, (key, _) in enumerate(app.validators(), start=1):
            last, blocks = app.proposer_history(key)
            energy = app.traded_wh(key)  # E: the voting token, Wh settled through certified markets
            age = height - last  # A: heights since k last proposed (since genesis if never)
            out.append((key, alpha * energy + beta * age * (k if age_index else 1) + gamma * blocks))
        return out

    def scores(self, app: Application) -> list[tuple[bytes, int, int]]:
        """(validator, W, u) with U_k = u / 2^64, u in [1, 2^64]: in (0, 1], derived from the
        height's seed."""
        seed = height_seed(app)
        return [(key, w, int.from_bytes(_digest(b"pownode/pos/u", seed, key)[:8], "big") + 1)
                for key, w in self.wealth(app)]

    def ranking(self, app: Application) -> list[bytes]:
        scored = [(Fraction(w, u), -u, key) for key, w, u in self.scores(app)]  # max W/U; ties: smaller U, then key
        scored.sort(reverse=True)
        return [key for _, _, key in scored]


class PoeElection:
    """Proof of Energy. Parameters: poe_mode ("argmax" or "lottery"), interval_ms (the
    settlement interval, default 15 min), poe_wh_per_unit (CPF exponent unit, default 1000 Wh)."""

    name = "poe"

    @staticmethod
    def settled_interval(app: Application) -> int:
        """The last settlement interval that ended before the parent block's time (-1: none yet)."""
        genesis_time = app.block_at(0).header.time_ms
        interval_ms = app.int_param("interval_ms", DEFAULT_INTERVAL_MS) or 1
        return (app.last_header().time_ms - genesis_time) // interval_ms - 1

    def cpf_values(self, app: Application) -> list[tuple[bytes, int]]:
        """(validator, CPF in ppm) over the last interval settled before the parent block's time.

        A validator without a reading from each of its certified meters for that interval has
        CPF 0 (a subset's sum could be chosen to suit it): it can still propose, but only when
        every validator ranked above it is silent.
        """
        unit = app.int_param("poe_wh_per_unit", DEFAULT_POE_WH_PER_UNIT) or 1
        settled = self.settled_interval(app)
        out = []
        for key, _ in app.validators():
            energy = app.interval_energy(key, settled) if settled >= 0 else None
            out.append((key, 0 if energy is None else cpf_ppm(energy[0], energy[1], unit)))
        return out

    def ranking(self, app: Application) -> list[bytes]:
        seed = height_seed(app)
        cpfs = self.cpf_values(app)
        tiebreak = {key: _digest(b"pownode/poe/tie", seed, key) for key, _ in cpfs}
        mode = app.str_param("poe_mode", "argmax")
        if mode == "argmax":
            return [key for key, _ in sorted(cpfs, key=lambda kc: (-kc[1], tiebreak[kc[0]]))]
        if mode != "lottery":
            raise ValueError(f"poe_mode must be 'argmax' or 'lottery', not {mode!r}")
        # Weighted draw without replacement: each draw picks with probability CPF / sum(CPF).
        remaining = sorted(cpfs, key=lambda kc: tiebreak[kc[0]])
        order: list[bytes] = []
        draw = 0
        while remaining:
            total = sum(c for _, c in remaining)
            if total == 0:
                order.extend(key for key, _ in remaining)
                break
            r = int.from_bytes(_digest(b"pownode/poe/lottery", seed, draw.to_bytes(4, "big")), "big") % total
            draw += 1
            for i, (key, c) in enumerate(remaining):
                if r < c:
                    order.append(key)
                    del remaining[i]
                    break
                r -= c
        return order


DEFAULT_REPUTATION_WINDOW = 16  # heights; genesis param reputation_window, 0 turns it off
MAX_WINDOW_DOUBLINGS = 6  # so a validator passed over often waits at most 64 windows


class Reputation:
    """An election rule with leader reputation. A validator the chain records as passed over
    (ranked above a block's proposer, `SkipRecord`) since it last proposed is demoted: ranked
    after every validator in good standing, in the rule's order, for `reputation_window` heights
    after it was last passed over, doubled for each further time (16, 32, ... 1024 heights by
    default). It is still ranked, so it proposes if everyone above it is silent, and when its
    window ends it is ranked where the rule puts it; proposing a block clears its record. All of
    it is read from committed state, so every replica demotes the same validators."""

    def __init__(self, rule: Election) -> None:
        self.rule = rule
        self.name = rule.name

    def ranking(self, app: Application) -> list[bytes]:
        order = self.rule.ranking(app)
        window = app.int_param("reputation_window", DEFAULT_REPUTATION_WINDOW)
        if window <= 0:
            return order
        height = app.last_header().height + 1
        demoted = self.demoted(app, order, height, window)
        return [k for k in order if k not in demoted] + [k for k in order if k in demoted]

    @staticmethod
    def demoted(app: Application, keys: list[bytes], height: int, window: int) -> set[bytes]:
        """The validators among `keys` passed over recently enough to be ranked last at `height`."""
        out = set()
        for key in keys:
            record = app.skip_record(key)
            if record is not None:
                skipped_at, strikes = record
                if height <= skipped_at + (window << min(strikes - 1, MAX_WINDOW_DOUBLINGS)):
                    out.add(key)
        return out


ELECTIONS: dict[str, type] = {"pbft": PbftElection, "pos": PosElection, "poe": PoeElection}


def election_for(name: str) -> Election:
    """The named rule under leader reputation."""
    try:
        return Reputation(ELECTIONS[name]())
    except KeyError:
        raise ValueError(f"unknown consensus {name!r}; choose one of {sorted(ELECTIONS)}") from None
