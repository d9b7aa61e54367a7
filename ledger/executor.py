"""The state transition function: what a transaction does to the state.

`check_transaction` decides, without writing, whether a transaction may be applied; the mempool
uses it at admission (allowing future nonces) and `apply_transaction` uses it strictly before
any write. A transaction that fails any check makes a block that contains it invalid, so a
proposer drops such transactions while building (see `ledger.chain`).

Contract deploy and call run in a `ContractRuntime` (the VM) handed in by whoever assembles the
chain; without one they are rejected with `NotBuiltYet`, both a rejection with a reason and a
`NotImplementedError`. A contract transaction pays `min_fee` plus its gas limit at the genesis
`gas_price` (fee units per 1,000 gas) up front, whether the call succeeds or not; a failed call
leaves a FAILED receipt and no other trace.
"""

from __future__ import annotations

from ledger import accounts
from ledger.accounts import Account, Meter, Order, Reading
from ledger.cpf import PPM, cpf_ppm
from ledger.blocks import MAX_VALIDATORS
from ledger.errors import InvalidTransaction
from ledger.genesis import DEFAULT_POE_FULL_WH, DEFAULT_POE_WH_PER_UNIT, MAX_SUPPLY, Genesis
from ledger.keys import VerifiedCache, address_of, proven_by_batch
from ledger.receipts import OK, SUCCESS, BlockContext, ContractRuntime, Receipt
from ledger.state import State
from ledger.transactions import (
    BUY,
    AdmitNode,
    CertifyMarket,
    FEE_EXEMPT_KINDS,
    OPERATOR_KINDS,
    SELL,
    ContractCall,
    ContractDeploy,
    MarketOrder,
    MeterReading,
    RegisterMeter,
    RevokeMeter,
    SetValidator,
    Transaction,
    Transfer,
)


# 2**27 Wh (134 MWh) per meter, interval and direction: far above any meter a member owns, and
# an owner's 16 meters together stay below 2**31 Wh, the market kernels' bound.
MAX_READING_WH = 1 << 27


class NotBuiltYet(InvalidTransaction, NotImplementedError):
    reason = "not-built"


def _reject(message: str, reason: str) -> InvalidTransaction:
    return InvalidTransaction(message, reason=reason)


def verify_signature(tx: Transaction, cache: VerifiedCache | None = None) -> None:
    """Raise unless the signature is valid; a cache hit skips the (expensive) verification."""
    if cache is not None and tx.hash in cache:
        return
    if not tx.signature_valid():
        raise _reject("signature does not verify", "bad-signature")
    if cache is not None:
        cache.add(tx.hash)


def prove_signatures(txs: list[Transaction], cache: VerifiedCache) -> None:
    """Check in batches the signatures of `txs` that `cache` does not hold, and remember those
    proven valid: `verify_signature` then finds them. What no batch proved (an invalid
    signature, or one in a group with one) is left for `verify_signature` to check alone and
    refuse with its reason."""
    fresh = [tx for tx in txs if tx.hash not in cache]
    proven = proven_by_batch([(tx.sender, tx.signing_bytes, tx.signature) for tx in fresh])
    for tx, ok in zip(fresh, proven, strict=True):
        if ok:
            cache.add(tx.hash)


def contract_fee(genesis: Genesis, gas_limit: int) -> int:
    """The least fee a contract transaction with this gas limit must carry."""
    return genesis.min_fee + -(-gas_limit * genesis.int_param("gas_price", 1) // 1000)


def spend_of(tx: Transaction) -> int:
    """What `tx` takes from its sender's balance at most: the fee, a transfer's amount, the
    value sent with a contract call."""
    body = tx.body
    if isinstance(body, Transfer):
        return tx.fee + body.amount
    if isinstance(body, ContractCall):
        return tx.fee + body.value
    return tx.fee


def gas_limit_of(tx: Transaction) -> int:
    """The gas a transaction may use in the VM: a contract transaction's gas limit, else 0."""
    body = tx.body
    return body.gas_limit if isinstance(body, (ContractCall, ContractDeploy)) else 0


def check_transaction(state: State, genesis: Genesis, tx: Transaction, *, exact_nonce: bool = True,
                      runtime: ContractRuntime | None = None, pending_spend: int = 0,
                      interval: int | None = None) -> Account:
    """Raise InvalidTransaction (with a reason) if `tx` cannot be applied to `state` now;
    otherwise return the sender's account as read (the caller's next step needs it).

    With `exact_nonce=False` (mempool admission) a nonce above the account's next nonce is
    allowed: the transaction waits for its predecessors; the balance must cover the spends of
    the sender's other pending transactions (`pending_spend`) too. `interval` is the interval of the block the transaction would go in:
    a meter reading must be of an interval that has ended by then (None: no block in view, the
    mempool's case). The signature is checked by the caller.
    """
    if tx.chain_id != genesis.chain_id:
        raise _reject(f"chain id {tx.chain_id!r} is not {genesis.chain_id!r}", "wrong-chain")
    account = accounts.get_account(state, tx.sender_address)
    if tx.nonce < account.nonce:
        raise _reject(f"nonce {tx.nonce} already used (next is {account.nonce})", "stale-nonce")
    if exact_nonce and tx.nonce != account.nonce:
        raise _reject(f"nonce {tx.nonce} is not the next nonce {account.nonce}", "nonce-gap")
    body = tx.body
    if not isinstance(body, FEE_EXEMPT_KINDS) and tx.fee < genesis.min_fee:
        raise _reject(f"fee {tx.fee} below the minimum {genesis.min_fee}", "fee-too-low")
    spend = tx.fee
    if isinstance(body, Transfer):
        if body.amount == 0:
            raise _reject("transfer of zero", "zero-amount")
        spend += body.amount
    elif isinstance(body, MeterReading):
        if body.produced_wh >= MAX_READING_WH or body.consumed_wh >= MAX_READING_WH:
            raise _reject(f"a reading is below {MAX_READING_WH} Wh per interval and direction", "reading-out-of-range")
        meter = accounts.get_meter(state, tx.sender)
        if meter is None:
            raise _reject("reading signed by a key that is not a certified meter", "unknown-meter")
        if body.interval < meter.since:
            raise _reject(f"the meter was certified for intervals from {meter.since} on", "reading-before-certification")
        if interval is not None and body.interval >= interval:
            raise _reject(f"interval {body.interval} has not ended (the block is in interval {interval})",
                          "reading-too-early")
        if accounts.get_reading(state, body.interval, tx.sender) is not None:
            raise _reject(f"meter already reported interval {body.interval}", "duplicate-reading")
    elif isinstance(body, MarketOrder):
        _check_order(state, tx.sender_address, body)
    elif isinstance(body, (ContractDeploy, ContractCall)):
        if runtime is None:
            raise NotBuiltYet("this chain runs without a contract runtime (the VM)")
        if body.gas_limit > min(genesis.int_param("max_tx_gas", 10_000_000), genesis.max_block_gas):
            # above the block's bound it would fit no block and wait in the mempool for good
            raise _reject(f"gas limit {body.gas_limit} above the chain's maximum", "gas-limit")
        if tx.fee < contract_fee(genesis, body.gas_limit):
            raise _reject(f"fee {tx.fee} does not cover gas limit {body.gas_limit}", "fee-too-low")
        if isinstance(body, ContractCall):
            spend += body.value
    elif isinstance(body, OPERATOR_KINDS):
        _check_operator(state, genesis, tx)
    if account.balance < spend + pending_spend:
        pending = f" after {pending_spend} pending" if pending_spend else ""
        raise _reject(f"balance {account.balance} does not cover {spend}{pending}", "insufficient-balance")
    return account


def _check_order(state: State, sender: bytes, order: MarketOrder) -> None:
    if order.side not in (BUY, SELL):
        raise _reject(f"order side {order.side} is neither buy (0) nor sell (1)", "bad-side")
    if order.energy_wh == 0:
        raise _reject("order for zero energy", "zero-energy")
    if order.price_mc_per_kwh == 0:
        raise _reject("order at price zero", "zero-price")
    if accounts.get_order(state, order.window, sender, order.order_id) is not None:
        raise _reject(f"order id {order.order_id} already used in window {order.window}", "duplicate-order")


def _check_operator(state: State, genesis: Genesis, tx: Transaction) -> None:
    body = tx.body
    if tx.sender != genesis.operator:
        raise _reject(f"{tx.kind} is reserved for the operator key", "not-operator")
    if isinstance(body, RegisterMeter):
        if accounts.get_meter(state, body.meter_key) is not None:
            raise _reject("meter key already registered", "meter-exists")
        if accounts.revoked_at(state, body.meter_key) is not None:
            raise _reject("meter key was revoked: certify the meter under a new key", "meter-revoked")
        if len(accounts.owner_meters(state, body.owner)) >= accounts.MAX_METERS_PER_OWNER:
            raise _reject(f"owner already has {accounts.MAX_METERS_PER_OWNER} meters", "too-many-meters")
    if isinstance(body, AdmitNode):
        if body.admitted not in (0, 1):
            raise _reject("admitted is 1 (admit) or 0 (withdraw)", "bad-flag")
        if body.admitted == 1 and body.node_key in dict(accounts.validators(state)):
            raise _reject("a validator is not also a full node", "is-validator")
    if isinstance(body, CertifyMarket):
        if body.active not in (0, 1):
            raise _reject("active is 1 (certify) or 0 (withdraw)", "bad-flag")
        if body.active == 1 and accounts.get_code(state, body.contract) is None:
            raise _reject("no contract at that address", "unknown-contract")
    if isinstance(body, RevokeMeter) and accounts.get_meter(state, body.meter_key) is None:
        raise _reject("meter key is not registered", "unknown-meter")
    if isinstance(body, SetValidator) and body.power > 0:
        current = accounts.validators(state)
        if body.validator_key not in dict(current) and len(current) >= MAX_VALIDATORS:
            raise _reject(f"the set already has {MAX_VALIDATORS} validators", "too-many-validators")
    if isinstance(body, SetValidator) and body.power == 0:
        current = accounts.validators(state)
        if body.validator_key not in dict(current):
            raise _reject("validator is not in the set", "unknown-validator")
        if len(current) == 1:
            raise _reject("cannot remove the last validator", "last-validator")


class BlockFees:
    """The fees a block's transactions pay its proposer, credited in one write per run of
    transactions that cannot tell the difference, rather than one write per transaction.

    The result is exactly that of crediting each fee as its transaction applies: a transfer, a
    reading or an order reads and writes no account but its sender's (and a transfer's
    recipient's), so while neither is the payee, nothing between two such transactions reads the
    payee's balance. Before any other transaction (which may read it: its own sender's account,
    a contract's balance query) and before the block's own effects, what is owed is credited
    (`settle`). The state root depends on the final entries alone, which are the same.
    """

    __slots__ = ("payee", "owed")

    def __init__(self, proposer: bytes) -> None:
        self.payee = address_of(proposer)
        self.owed = 0

    def defers(self, state: State, tx: Transaction) -> bool:
        """Whether `tx`'s fee can wait in `owed`; if not, what is owed is credited now. Call it
        before the transaction's snapshot, so that a rollback of `tx` never undoes a credit."""
        body = tx.body
        kind = type(body)
        if tx.sender_address != self.payee and (
                kind is MeterReading or kind is MarketOrder or (kind is Transfer and body.to != self.payee)):
            return True
        self.settle(state)
        return False

    def settle(self, state: State) -> None:
        """Credit what is owed to the payee's account."""
        if self.owed:
            paid = accounts.get_account(state, self.payee)
            accounts.put_account(state, self.payee, Account(paid.balance + self.owed, paid.nonce))
            self.owed = 0


def apply_transaction(state: State, genesis: Genesis, tx: Transaction, ctx: BlockContext,
                      runtime: ContractRuntime | None = None, *, credit_fee: bool = True) -> Receipt:
    """Check `tx` strictly, then apply it; the fee goes to the block proposer's account, unless
    `credit_fee` is False (the caller credits it with `BlockFees`)."""
    account = check_transaction(state, genesis, tx, runtime=runtime, interval=ctx.interval)
    proposer = ctx.proposer
    sender = tx.sender_address
    body = tx.body
    # A transfer's amount leaves with the fee, in one write (check_transaction saw both covered).
    sent = body.amount if isinstance(body, Transfer) else 0
    accounts.put_account(state, sender, Account(account.balance - tx.fee - sent, account.nonce + 1))
    if tx.fee and credit_fee:
        payee = address_of(proposer)
        paid = accounts.get_account(state, payee)
        accounts.put_account(state, payee, Account(paid.balance + tx.fee, paid.nonce))
    if isinstance(body, Transfer):
        dest = accounts.get_account(state, body.to)
        accounts.put_account(state, body.to, Account(dest.balance + sent, dest.nonce))
    elif isinstance(body, MeterReading):
        meter = accounts.get_meter(state, tx.sender)
        assert meter is not None  # check_transaction guarantees it
        reading = Reading(body.produced_wh, body.consumed_wh, meter.owner)
        accounts.put_reading(state, body.interval, tx.sender, reading)
    elif isinstance(body, MarketOrder):
        # A signed order on the ledger, not a trade: it credits no energy to anyone's E.
        order = Order(body.side, body.energy_wh, body.price_mc_per_kwh, body.zone)
        accounts.put_order(state, body.window, sender, body.order_id, order)
    elif isinstance(body, RegisterMeter):
        accounts.put_meter(state, body.meter_key, Meter(body.meter_type, body.serial, body.owner, ctx.interval))
    elif isinstance(body, RevokeMeter):
        accounts.revoke_meter(state, body.meter_key, ctx.height)
    elif isinstance(body, CertifyMarket):
        accounts.set_market(state, body.contract, body.active == 1)
    elif isinstance(body, AdmitNode):
        accounts.set_full_node(state, body.node_key, body.admitted == 1)
    elif isinstance(body, SetValidator):
        accounts.set_validator(state, body.validator_key, body.power)
    elif isinstance(body, (ContractDeploy, ContractCall)):
        assert runtime is not None  # check_transaction guarantees it
        token = state.snapshot()
        receipt = runtime.run(state, ctx, sender, body)
        if receipt.status == OK:
            state.release(token)
        else:
            state.rollback(token)
        return receipt
    return SUCCESS


def apply_block_effects(state: State, genesis: Genesis, ctx: BlockContext) -> None:
    """Per-block effects after the transactions: the proposer's history (read by PoS), who the
    election passed over (leader reputation, read by every election), and the
    block incentive (the PoE reward of 003 V.F, see `_incentive`), minted only while total
    supply stays within MAX_SUPPLY so no balance can overflow."""
    proposer = ctx.proposer
    accounts.record_proposal(state, proposer, ctx.height)
    accounts.record_skips(state, ctx.skipped, proposer, ctx.height)
    incentive = _incentive(state, genesis, ctx)
    if incentive == 0:
        return
    total = accounts.supply(state)
    if total + incentive > MAX_SUPPLY:
        return
    accounts.set_supply(state, total + incentive)
    payee = address_of(proposer)
    account = accounts.get_account(state, payee)
    accounts.put_account(state, payee, Account(account.balance + incentive, account.nonce))


def _incentive(state: State, genesis: Genesis, ctx: BlockContext) -> int:
    """What this block's proposer is paid, by genesis `poe_incentive` (003 V.F's programs):

    * "flat": `block_incentive` to every proposer.
    * "RE", "TE", "RE+TE": block_incentive * min(X, poe_full_wh) // poe_full_wh * CPF // 10^6,
      over the last settled interval (the one before the block's): X is the proposer's certified
      production (RE), the energy certified markets settled for it (TE), or their sum (RE+TE);
      CPF (ppm, `ledger.cpf`) is of its own certified readings for that interval, 0 unless all its
      meters reported it (as the election values it).
      Nothing is paid in interval 0, before any interval has ended.

    The payee is always the block's actual proposer, valued by its own energy and CPF: a
    fallback proposer, which proposes because better-ranked candidates were silent, is never
    paid by the elected one's merit, so silencing the elected proposer earns an attacker no more
    than its own readings and trades would.
    """
    incentive = genesis.int_param("block_incentive", 0)
    mode = genesis.poe_incentive
    if mode == "flat" or incentive == 0:
        return incentive
    interval = ctx.interval - 1
    if interval < 0:
        return 0
    address = address_of(ctx.proposer)
    energy = accounts.owner_energy(state, address, interval)
    if not energy.complete:
        return 0
    unit = genesis.positive_param("poe_wh_per_unit", DEFAULT_POE_WH_PER_UNIT)
    cpf = cpf_ppm(energy.produced_wh, energy.consumed_wh, unit)
    produced = energy.produced_wh if mode in ("RE", "RE+TE") else 0
    settled = accounts.settled_wh(state, address, interval) if mode in ("TE", "RE+TE") else 0
    full = genesis.positive_param("poe_full_wh", DEFAULT_POE_FULL_WH)
    return incentive * min(produced + settled, full) // full * cpf // PPM
