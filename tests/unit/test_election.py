"""Proposer elections on hand-computed examples."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from consensus.election import PbftElection, PoeElection, PosElection
from ledger.application import LedgerApp
from ledger.chain import Chain
from ledger.database import MemoryDB
from ledger.devnet import make_devnet
from ledger.mempool import Mempool
from ledger.transactions import MeterReading, RevokeMeter, Transaction

K1, K2, K3 = (bytes([i]) * 32 for i in (1, 2, 3))


class PosApp:
    """A small deterministic application answering only what PoS asks."""

    chain_id = "pos-example"

    def __init__(self) -> None:
        self.history = {K1: (9, 4), K2: (2, 1), K3: (0, 0)}
        self.traded = {K1: 500, K2: 100, K3: 0}
        self.params = {"pos_alpha": 1, "pos_beta": 10, "pos_gamma": 5, "pos_age_index": 1}

    def last_header(self):
        return SimpleNamespace(height=9)

    def validators(self):
        return [(K1, 1), (K2, 1), (K3, 1)]

    def int_param(self, name: str, default: int) -> int:
        return self.params.get(name, default)

    def proposer_history(self, key: bytes):
        return self.history[key]

    def traded_wh(self, key: bytes) -> int:
        return self.traded[key]


def test_pos_wealth_and_proposer_match_the_hand_computation() -> None:
    # Height 10, alpha=1, beta=10, gamma=5, W_k = alpha*E + beta*A*k + gamma*R (001, IV.C):
    #   k=1: E=500, A=10-9=1,  R=4 -> 500 + 10*1*1  + 5*4 = 530
    #   k=2: E=100, A=10-2=8,  R=1 -> 100 + 10*8*2  + 5*1 = 265
    #   k=3: E=0,   A=10-0=10, R=0 ->   0 + 10*10*3 + 0   = 300
    # U_k = (first 8 bytes of sha256("pownode/pos/u" || seed || key) + 1) / 2^64, with seed =
    # sha256("pownode/election/seed" || chain id || height as 8 bytes):
    #   U_1 = 0.09244, U_2 = 0.49768, U_3 = 0.79809, so W/U = 5733.7, 532.5, 375.9 (K2 before K3,
    #   whose W is larger).
    app = PosApp()
    assert PosElection().wealth(app) == [(K1, 530), (K2, 265), (K3, 300)]
    assert PosElection().ranking(app) == [K1, K2, K3]


def test_pos_without_index_weighting_is_the_default() -> None:
    app = PosApp()
    del app.params["pos_age_index"]
    assert PosElection().wealth(app) == [(K1, 530), (K2, 185), (K3, 100)]
    app.params["pos_age_index"] = 2
    with pytest.raises(ValueError, match="pos_age_index"):
        PosElection().wealth(app)


def _pos_shares(params: dict, heights: int) -> list[int]:
    """Blocks proposed by each of 4 validators with equal E (none), in key order, when every
    height's elected proposer proposes."""
    net = make_devnet(validators=4, users=1, meters=0, consensus="pos", label="pos-shares", params=params)
    chain = Chain(MemoryDB(), net.genesis)
    app = LedgerApp(chain, Mempool(net.genesis, chain.cache))
    counts = {key: 0 for key, _ in app.validators()}
    for _ in range(heights):
        proposer = PosElection().ranking(app)[0]
        block, _ = chain.build_block([], proposer, chain.head.time_ms + 1000)
        chain.commit_block(net.seal(block))
        counts[proposer] += 1
    return list(counts.values())


def test_pos_default_gives_equal_validators_equal_shares() -> None:
    # Block hashes are deterministic, so the counts are too: this passes or fails reproducibly.
    assert all(80 <= n <= 120 for n in _pos_shares({}, 400))  # each within 20-30 % of 400


def test_pos_literal_age_index_is_selectable_and_favours_later_keys() -> None:
    # The paper's beta*A*k: the share rises with the key's position in key order.
    shares = _pos_shares({"pos_age_index": 1}, 400)
    assert shares == sorted(shares) and shares[0] < 80 and shares[-1] > 120


def _poe_app(mode: str = "argmax"):
    net = make_devnet(validators=4, users=2, meters=4, meter_owners="validators", label="poe-hand",
                      params={"interval_ms": 1000, "poe_wh_per_unit": 1000, "poe_mode": mode})
    chain = Chain(MemoryDB(), net.genesis)
    return net, LedgerApp(chain, Mempool(net.genesis, chain.cache))


def _commit(net, app, txs, time_offset_ms: int) -> None:
    block, dropped = app.chain.build_block(txs, net.validators[0].public_key, net.genesis.genesis_time_ms + time_offset_ms)
    assert not dropped, dropped
    app.chain.commit_block(net.seal(block))


def test_poe_picks_the_best_cpf_on_hand_computed_values() -> None:
    net, app = _poe_app()
    cid = net.genesis.chain_id
    m = net.meters
    # Interval 0 (settled once the head's time passes 2 intervals): CPF = e^-|P-C| with kWh units
    #   v0: P=2000, C=1500 -> e^-0.5 = 0.606530 -> 606530 ppm
    #   v1: P=1000, C=1000 -> e^0    = 1        -> 1000000 ppm
    #   v2: P=0,    C=3000 -> e^-3   = 0.049787 -> 49787 ppm
    #   v3: no reading                          -> 0
    readings = [(m[0], 2000, 1500), (m[1], 1000, 1000), (m[2], 0, 3000)]
    _commit(net, app, [Transaction.create(k, cid, 0, MeterReading(0, p, c)) for k, p, c in readings], 1500)
    _commit(net, app, [], 1900)  # still interval 1: interval 0 is the settled one
    cpf = dict(PoeElection().cpf_values(app))
    v = [k.public_key for k in net.validators]
    assert [cpf[k] for k in v] == [606530, 1_000_000, 49787, 0]
    assert PoeElection().ranking(app) == [v[1], v[0], v[2], v[3]]


def test_poe_ignores_revoked_meters() -> None:
    net, app = _poe_app()
    cid = net.genesis.chain_id
    _commit(net, app, [Transaction.create(net.meters[1], cid, 0, MeterReading(0, 1000, 1000))], 1200)
    _commit(net, app, [Transaction.create(net.operator, cid, 0, RevokeMeter(net.meters[1].public_key))], 1500)
    assert dict(PoeElection().cpf_values(app))[net.validators[1].public_key] == 0


def test_poe_lottery_is_deterministic_and_cpf_weighted() -> None:
    election = PoeElection()
    keys = [bytes([i]) * 32 for i in range(4)]
    weights = {keys[0]: 600_000, keys[1]: 300_000, keys[2]: 100_000, keys[3]: 0}

    class LotteryApp:
        chain_id = "poe-lottery"

        def __init__(self, height: int) -> None:
            self.height = height

        def last_header(self):
            return SimpleNamespace(height=self.height, time_ms=10_000)

        def validators(self):
            return [(k, 1) for k in keys]

        def block_at(self, height: int):
            return SimpleNamespace(header=SimpleNamespace(time_ms=0))

        def int_param(self, name: str, default: int) -> int:
            return default

        def str_param(self, name: str, default: str) -> str:
            return "lottery"

        def interval_energy(self, key: bytes, interval: int):
            return None

    election.cpf_values = lambda app: [(k, weights[k]) for k in keys]  # type: ignore[method-assign]
    firsts = {k: 0 for k in keys}
    for i in range(3000):
        app = LotteryApp(i)
        order = election.ranking(app)
        assert sorted(order) == keys and order == election.ranking(app)
        assert order[-1] == keys[3]  # zero CPF proposes only when every other candidate is silent
        firsts[order[0]] += 1
    assert 1650 < firsts[keys[0]] < 1950 and 750 < firsts[keys[1]] < 1050 and 200 < firsts[keys[2]] < 400


def test_pbft_primary_is_stable_and_rotates_on_failure() -> None:
    keys = [K1, K2, K3]
    app = SimpleNamespace(validators=lambda: [(k, 1) for k in keys],
                          last_header=lambda: SimpleNamespace(proposer=K2))
    assert PbftElection().ranking(app) == [K2, K3, K1]


def test_reputation_demotes_a_passed_over_validator_for_a_window_that_doubles() -> None:
    from consensus.election import Reputation

    records: dict[bytes, tuple[int, int]] = {}
    app = SimpleNamespace(validators=lambda: [(k, 1) for k in (K1, K2, K3)],
                          last_header=lambda: SimpleNamespace(proposer=K1, height=height),
                          int_param=lambda name, default: default, skip_record=records.get)
    election = Reputation(PbftElection())
    height = 10  # the last committed height: the ranking is for height + 1
    assert election.ranking(app) == [K1, K2, K3]
    records[K1] = (10, 1)  # passed over at height 10: demoted for heights 11..26
    assert election.ranking(app) == [K2, K3, K1]
    height = 25
    assert election.ranking(app) == [K2, K3, K1]
    height = 26
    assert election.ranking(app) == [K1, K2, K3]
    records[K1] = (27, 2)  # again, before proposing: 32 heights, 28..59
    height = 58
    assert election.ranking(app) == [K2, K3, K1]
    height = 59
    assert election.ranking(app) == [K1, K2, K3]
    records[K1] = (60, 50)  # often: at most 64 windows
    height = 59 + 16 * 64
    assert election.ranking(app) == [K2, K3, K1]
    height += 1
    assert election.ranking(app) == [K1, K2, K3]
    records.update({K1: (height, 1), K2: (height, 1), K3: (height, 1)})  # all demoted: the rule's order
    assert election.ranking(app) == [K1, K2, K3]


def test_blocks_record_who_was_passed_over_and_proposing_clears_it() -> None:
    from ledger import accounts
    from ledger.errors import InvalidBlock

    net = make_devnet(validators=4, users=1, meters=0, label="reputation")
    chain = Chain(MemoryDB(), net.genesis)
    keys = [k for k, _ in chain.validators]
    block, _ = chain.build_block([], keys[2], chain.head.time_ms + 1, skipped=[keys[0], keys[1]])
    assert block.header.skipped == bytes([0b1100_0000])
    chain.commit_block(net.seal(block))
    assert accounts.skip_record(chain.state, keys[0]) == accounts.SkipRecord(1, 1)
    assert accounts.skip_record(chain.state, keys[2]) is None
    block, _ = chain.build_block([], keys[1], chain.head.time_ms + 1, skipped=[keys[0]])
    chain.commit_block(net.seal(block))
    assert accounts.skip_record(chain.state, keys[0]) == accounts.SkipRecord(2, 2)
    assert accounts.skip_record(chain.state, keys[1]) is None  # it proposed
    block, _ = chain.build_block([], keys[3], chain.head.time_ms + 1)
    for bad in (b"", bytes([0b1100_0000, 0]), bytes([0b0001_0000]), bytes([0b0000_1000])):
        # wrong length, the proposer itself, a bit past the last validator
        with pytest.raises(InvalidBlock, match="skipped"):
            chain.validate_block(block.replace(header=block.header.replace(skipped=bad)))


def test_poe_counts_a_validator_only_over_all_its_meters() -> None:
    """A validator with two certified meters withholds the one that spoils its CPF (its reading
    can still come later, for settlement): the CPF of the other alone was its stake, 1.0 against
    0.135 over both, and it was elected. An interval its meters have not all reported gives it
    no CPF, as a validator without readings; once all have, it is ranked by their sum."""
    from ledger.keys import PrivateKey
    from ledger.transactions import RegisterMeter

    net, app = _poe_app()
    cid = net.genesis.chain_id
    v = [k.public_key for k in net.validators]
    second = PrivateKey.from_label("poe-hand/meter/second")
    owner = net.validators[0].address
    _commit(net, app, [Transaction.create(net.operator, cid, 0, RegisterMeter(second.public_key, "smart-meter", "SM-2", owner))], 100)
    # interval 0: v0's first meter P=C=1000 Wh, its second C=2000 Wh (withheld); v1 P=1000, C=1200
    readings = [(net.meters[0], 1000, 1000), (net.meters[1], 1000, 1200)]
    _commit(net, app, [Transaction.create(k, cid, 0, MeterReading(0, p, c)) for k, p, c in readings], 1500)
    _commit(net, app, [], 1900)
    cpf = dict(PoeElection().cpf_values(app))
    assert cpf[v[0]] == 0 and cpf[v[1]] == 818730  # e^-0.2
    assert PoeElection().ranking(app)[0] == v[1]
    _commit(net, app, [Transaction.create(second, cid, 0, MeterReading(0, 0, 2000))], 1950)
    assert dict(PoeElection().cpf_values(app))[v[0]] == 135335  # e^-2 over P=1000, C=3000
