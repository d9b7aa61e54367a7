"""001's steps of energy exchange (Section VI, "The steps of energy exchange are as follows") walked
on pownode with the coalition auction:

1. the prosumer's energy is reported under a key the network knows: its certified meter signs
   the reading, which the chain keeps under the meter's owner ("the ESS send[s] a broadcast
   transaction to the network": our meters are the ESS); a key that is no certified meter cannot;
2. the prosumer's sell contract carries its key (the signed sender), the amount and the price
   (the pledge into a round of a contract whose reserve is the lowest price it sells at) and an
   id (the contract's address and the round); the validator checks the signature and the fee;
3. the validator executing settlement checks the production claim against the certified meter:
   a claim beyond metered production is not paid;
4. the consumer's purchase request invokes the contract with a payment under its own key; the
   validator checks that the buyer's balance covers it, and the contract that the escrow covers
   the bid: a purchase the buyer cannot afford is refused.
"""

from __future__ import annotations

from ledger import accounts
from ledger.executor import contract_fee
from ledger.transactions import ContractCall, MeterReading, Transaction
from tests.market.helpers import GAS, NET, interval_time
from tests.market.test_coalition_auction import BUYERS, D, FIT, I0, RATE, SELLERS, UTILITY, Auction, bid

PROSUMER, CONSUMER = SELLERS[0], BUYERS[0]
PROSUMER_METER = NET.meters[1]  # NET.meters[i] belongs to NET.users[i]


def _refusal(a: Auction, key, body, fee: int | None = None, forged_by=None) -> str:
    """The reason a validator refuses to put `body`, signed by `key`, into a block (nothing is
    committed)."""
    nonce = accounts.get_account(a.chain.state, key.address).nonce
    fee = contract_fee(NET.genesis, GAS) if fee is None else fee
    tx = Transaction.create(forged_by or key, NET.genesis.chain_id, nonce, body, fee=fee)
    if forged_by is not None:  # signed by someone else in the name of `key`
        tx = tx.replace(sender=key.public_key)
    _, dropped = a.chain.build_block([tx], NET.validators[0].public_key, a.time_ms + 1)
    assert len(dropped) == 1
    return str(dropped[0][1])


def test_the_four_steps_of_energy_exchange_on_pownode() -> None:
    a = Auction()
    # Step 2: the prosumer's sell contract: its key, the amount (2,000 Wh) into round D of this
    # contract, at no less than the contract's reserve price (FIT).
    pledge = ContractCall(a.address, "pledge", (D, 2_000), GAS, 2_000 * RATE // 1000)
    assert "signature" in _refusal(a, PROSUMER, pledge, forged_by=CONSUMER)  # not the prosumer's key
    assert "fee" in _refusal(a, PROSUMER, pledge, fee=0)  # no transaction fee
    a.at(I0, [(PROSUMER, pledge)])
    assert a.view("seller", D, 0)[:2] == [PROSUMER.address, 2_000] and a.view("round_info", D)[1] == 2_000
    # Step 4: the consumer's purchase request, under its key, with its payment escrowed. One it
    # cannot afford is refused by the validator (balance) or by the contract (escrow).
    balance = a.balance(CONSUMER.address)
    wish = bid(2_000, 20_000)
    unaffordable = ContractCall(a.address, "commit", (D, wish.sealed(CONSUMER)), GAS, balance + 1)
    assert "does not cover" in _refusal(a, CONSUMER, unaffordable)
    short = bid(2_000, 20_000, deposit=39_999)
    a.at(I0, [a.on(CONSUMER, "commit", D, short.sealed(CONSUMER), value=short.deposit),
              a.on(BUYERS[1], "commit", D, wish.sealed(BUYERS[1]), value=wish.deposit)])
    a.block([], interval_time(D - 2, 1))
    refused = a.block([a.on(CONSUMER, "reveal", D, short.energy_wh, short.price, short.salt)])[0]
    assert refused.status == 1 and "does not cover the bid's escrow" in refused.reason
    a.at(D - 2, [a.on(BUYERS[1], "reveal", D, wish.energy_wh, wish.price, wish.salt)])
    a.block([], interval_time(D - 1, 1))
    assert a.anyone("allocate", D)[:2] == [2_000, 1]
    # Step 1: the prosumer generated energy in D; its certified meter reports it under its owner.
    assert "not a certified meter" in _refusal(a, CONSUMER, MeterReading(D, 5_000, 0))
    a.readings(D, {1: (1_700, 500), 10: (0, 1_200)})  # the buyer's meter shows what it takes
    assert a.run(a.address, UTILITY, "round_info", D)[0] == 1  # allocated, not settled
    # Step 3: the production claim (2,000 Wh) against the meter (1,200 Wh net export): only the
    # metered 1,200 Wh are paid; the buyer gets the escrow of the other 800 back.
    before = {k.address: a.balance(k.address) for k in (PROSUMER, BUYERS[1])}
    assert a.anyone("settle", D) == [1_200, 24_000, 800 * RATE // 1000]
    assert a.balance(PROSUMER.address) == before[PROSUMER.address] + 24_000 + 1_200 * RATE // 1000
    assert a.balance(BUYERS[1].address) == before[BUYERS[1].address] + 800 * 20_000 // 1000
    assert 24_000 > 1_200 * FIT // 1000  # and it sold above what the utility pays (FIT)
