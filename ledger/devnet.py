"""Deterministic development networks: keys derived from labels and a matching genesis.

For the demo, tests and benchmarks only: every key here is derivable by anyone from its label.
Real networks generate random keys (`PrivateKey.generate`) and write their own genesis.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.blocks import Block, make_quorum, sign_commit
from ledger.genesis import Genesis
from ledger.keys import PrivateKey


@dataclass(frozen=True)
class Devnet:
    genesis: Genesis
    operator: PrivateKey
    validators: tuple[PrivateKey, ...]
    users: tuple[PrivateKey, ...]
    meters: tuple[PrivateKey, ...]  # meters[i] is certified and owned by users[i] (or validators[i])

    def seal(self, block: Block, round_: int = 0) -> Block:
        """Attach a quorum certificate signed by every validator of this devnet."""
        sigs = [sign_commit(k, block.header, round_) for k in self.validators]
        return block.replace(header=block.header.replace(proof=make_quorum(block.header, sigs, round_)))


def make_devnet(
    *,
    validators: int = 1,
    users: int = 8,
    meters: int = 2,
    chain_id: str = "pownode-dev",
    balance: int = 10**12,
    min_fee: int = 1,
    consensus: str = "pbft",
    label: str = "dev",
    params: dict | None = None,
    meter_owners: str = "users",
) -> Devnet:
    """A devnet. `meter_owners="validators"` gives meter i to validator i instead of user i
    (Proof of Energy elects validators by their own meters' readings)."""
    owners_count = validators if meter_owners == "validators" else users
    if meters > owners_count:
        raise ValueError(f"each meter belongs to one of the {meter_owners}: too many meters")
    operator = PrivateKey.from_label(f"{label}/operator")
    vals = tuple(PrivateKey.from_label(f"{label}/validator/{i}") for i in range(validators))
    people = tuple(PrivateKey.from_label(f"{label}/user/{i}") for i in range(users))
    mtrs = tuple(PrivateKey.from_label(f"{label}/meter/{i}") for i in range(meters))
    owners = vals if meter_owners == "validators" else people
    doc = {
        "chain_id": chain_id,
        "genesis_time_ms": 1_767_225_600_000,
        "operator": operator.public_key.hex(),
        "min_fee": min_fee,
        "validators": [
            {"name": f"validator-{i}", "public_key": k.public_key.hex(), "power": 1} for i, k in enumerate(vals)
        ],
        "balances": [{"address": k.address.hex(), "amount": balance} for k in people],
        "meters": [
            {"public_key": m.public_key.hex(), "meter_type": "smart-meter", "serial": f"SM-{i:05d}",
             "owner": owners[i].address.hex()}
            for i, m in enumerate(mtrs)
        ],
        "consensus": consensus,
        "params": dict(params or {}),
    }
    return Devnet(Genesis.from_json(doc), operator, vals, people, mtrs)
