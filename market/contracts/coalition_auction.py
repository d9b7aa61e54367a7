"""Coalition auction (Salian et al., 001, Section IV.A, Fig. 2), blind bids by commit-reveal, paid
on metered delivery.

One round per delivery interval D (the round's key). "At every cycle of the auction, each
prosumer who wishes to be a seller ... come[s] together to form a coalition" that pools its
energy; "all buyers ... participate in the auction individually", "unaware of other buyer's
decision"; "the highest proposed price will win the auction round"; "the profit generated is then
distributed back to each seller of the coalition in proportion to their contribution". The
phases follow the chain's settlement interval:

- interval() < D - 2, pledging and commit: a seller with a certified meter pledges Wh to the
  pool with collateral (Wh * collateral rate), reserving that much of its export in D for this
  auction (`reserve_delivery`: no other market's claim takes it); a buyer commits
  sha256(auction:20 | D:8 | sender:20 | energy:4 | price:4 | salt:32) with a deposit of its
  choosing (at least the minimum), so bids stay blind while bidding is open; the hash binds this
  contract's address, the round and the bidder, so no one else, no other round and no other
  auction can use the opening.
- interval() == D - 2, reveal: the buyer shows energy, price and salt; the deposit must cover the
  bid's escrow, energy * price // 1000, and the price must be within [reserve, cap]; the bid's
  energy is reserved of the buyer's import in D (at reveal: until then the amount is sealed),
  while the operator certifies the auction (uncertified, a reveal still counts, unreserved).
- interval() >= D - 1, allocation (anyone, once): the highest revealed price takes the pool first,
  the rest of the pool goes to the next-highest bids, ties in commit order (aggregator_take, 003's
  selling side with the pool as the quantity). Pricing is pay-as-bid, the paper's "highest price
  wins". A bid keeps the escrow of what it was allocated, the rest of its deposit returns. A
  deposit never revealed is forfeited to the beneficiary (the utility, which serves the energy the
  bid would have bought). Each seller is allocated its pledge's share of the allocated total,
  pledge * allocated // pool, the remainder one Wh each to the first sellers in pledge order, and
  keeps collateral for that share; the rest returns. Reservations are lowered to the allocations,
  so what the round will not settle goes back to the other markets.
- D: delivery.
- interval() > D, settlement (anyone, once): each allocated seller's delivery is its certified
  meters' net export for D as far as no market claimed it (`claim_delivery`), up to its
  allocation; a seller whose meters have not all reported by D + GRACE delivered nothing. The
  coalition pools its energy, so what its members fell short by is then claimed, in pledge order,
  from the others' export beyond their allocation (as far as no other market has it), up to their
  pledges (settlement waits, up to GRACE, for the readings of every seller it claims from, a share
  of 0 or not). The delivered total serves the bids in allocation order (highest price first),
  each paying its own price for what it is served and getting back the escrow of the rest. What a
  bid is served is claimed as its buyer's net import (`claim_delivery`, as far as its meters show
  one), so no other market charges the buyer for the same Wh again; settlement waits, up to GRACE,
  for the readings of every buyer it serves, as for its sellers. The claims release the round's
  reservations (a bid served less than its allocation releases the rest), and the reservations
  mean a market that settles D first, such as a real-time settlement of every member's metered
  energy, leaves the round what its members committed to it. The proceeds are split among the
  sellers in proportion to what each delivered, integer division, the remainder to the first
  seller in pledge order who delivered. A seller's collateral returns for the allocated Wh it
  delivered; the collateral of allocated Wh it did not deliver is forfeited to the beneficiary
  (003's aggregator argues why: without it a free pledge could take the round and deliver
  nothing). Settlement against meters needs a contract the operator certified, so pledges and
  commitments are taken only while it is (uncertified, nothing could release them); if the
  operator withdraws the certification, a round's holding waits until it certifies again.

A round holds, at every moment, the collateral and deposits it has not paid out (`holding`), so
the contract's balance is the sum of its rounds' holdings. Bounds: MAX_SELLERS pledges and
MAX_BIDS commitments a round, one per member (a round's seller does not bid in it, nor a bidder
pledge to it: it would buy its own export, counted as traded energy with no one on the other
side), rounds at most MAX_AHEAD intervals ahead, Wh below 2**24 and prices below 2**31 (the
kernels' bounds); settle reads each seller's and each served buyer's meters at most twice, so
the costliest settlement (64 sellers and 64 buyers of 16 meters) stays under 2,000,000 gas.
Only members with a certified meter pledge or commit (the operator certifies meters, so slots
cannot be filled with fresh keys); every pledge and commitment locks money, and an unrevealed
commitment loses it.
"""

MAX_SELLERS = 64
MAX_BIDS = 64
MAX_WH = 16777216  # 2**24 Wh
MAX_PRICE = 2147483648  # 2**31 milli-cents per kWh
MAX_AHEAD = 96  # a round's delivery is at most this many intervals ahead
GRACE = 2  # intervals after delivery to wait for missing readings
OPEN = 0
ALLOCATED = 1
SETTLED = 2
# round record fields
R_STATUS = 0
R_POOL = 1  # Wh pledged
R_SELLERS = 2
R_BIDS = 3
R_HELD = 4  # milli-cents the round holds
R_OPENED = 5  # interval of its first pledge or commitment
R_ALLOCATED_AT = 6
R_SETTLED_AT = 7
R_ALLOCATED = 8  # Wh allocated
R_DELIVERED = 9  # Wh delivered
R_PROCEEDS = 10  # milli-cents paid by buyers to the sellers
R_FORFEITED = 11  # milli-cents forfeited to the beneficiary
R_REVEALED = 12  # bids revealed


def setup(beneficiary, reserve, cap, collateral_rate, min_deposit, min_wh):
    """The deployer, once: who receives forfeits, the price range [reserve, cap] a revealed bid
    must be in (e.g. FIT .. TOU), the collateral per kWh pledged, the smallest commitment deposit
    and the smallest pledge (what it costs to take a slot). The smallest pledge's collateral is
    at least 1 milli-cent, so every pledge locks money; and the beneficiary is not the auction
    itself, where forfeits would belong to no round and stay for good."""
    _no_value()
    require(sender() == deployer(), "only the deployer sets the auction up")
    require(get("params") is None, "already set up")
    require(_is_bytes(beneficiary, 20), "the beneficiary is a 20-byte address")
    require(beneficiary != self_address(), "the beneficiary is not the auction itself")
    require(0 < reserve and reserve <= cap and cap < MAX_PRICE, "0 < reserve <= cap < 2**31")
    require(0 <= collateral_rate and collateral_rate < MAX_PRICE, "collateral rate 0 .. 2**31")
    require(0 < min_deposit and min_deposit < 1000000000000, "the minimum deposit is positive")
    require(0 < min_wh and min_wh < MAX_WH, "the minimum pledge is 1 Wh .. 2**24 Wh")
    # A free pledge could take the whole pool (2**24 Wh a seller) and deliver nothing, every round.
    require(min_wh * collateral_rate // 1000 > 0, "the smallest pledge must lock collateral: min_wh * rate >= 1000")
    put("params", [beneficiary, reserve, cap, collateral_rate, min_deposit, min_wh])


def _no_value():
    # Money sent with a call that does not hold it would belong to no round: refuse it.
    require(value() == 0, "this call takes no value")


def _is_bytes(v, size):
    return v[:0] == b"" and len(v) == size  # an empty slice of anything but bytes is not b""


def _params():
    p = get("params")
    require(p is not None, "the auction is not set up")
    return p


def _key(delivery):
    # An integer key: a str such as "1:0" would share round 1's prefixes.
    require(0 <= delivery and delivery < 1000000000000, "a round is a delivery interval below 10**12")
    return str(delivery)


def _round(delivery):
    r = get("r:" + _key(delivery))
    require(r is not None, "no such round")
    return list(r)  # stored lists read back as tuples


def _open_round(delivery):
    """The round for `delivery` in its pledging and commit phase, created on first use."""
    _params()
    d = _key(delivery)
    # Uncertified, settle could never pay nor release what the round takes: take nothing.
    require(certified(), "the operator must certify this auction before it takes pledges or commitments")
    now = interval()
    require(now < delivery - 2, "pledging and commitments close two intervals before delivery")
    require(delivery <= now + MAX_AHEAD, "delivery must be within " + str(MAX_AHEAD) + " intervals")
    r = get("r:" + d)
    if r is None:
        return [OPEN, 0, 0, 0, 0, now, 0, 0, 0, 0, 0, 0, 0]
    return list(r)


def _slot(n):
    return to_bytes(n, 1).hex()


def pledge(delivery, energy_wh):
    """A seller joins the round's coalition with `energy_wh`, sending its collateral."""
    p = _params()
    r = _open_round(delivery)
    d = _key(delivery)
    require(0 < energy_wh and energy_wh < MAX_WH, "energy must be 1 .. 2**24 - 1 Wh")
    require(energy_wh >= p[5], "below the smallest pledge")
    require(owner_reading(sender(), delivery)[3] > 0, "a seller needs a certified meter to prove delivery")
    mine = "sp:" + d + ":" + sender().hex()
    require(get(mine) is None, "one pledge per seller and round")
    require(get("bp:" + d + ":" + sender().hex()) is None, "a bidder of this round does not pledge to it")
    require(r[R_SELLERS] < MAX_SELLERS, "the coalition is full")
    collateral = energy_wh * p[3] // 1000
    require(value() == collateral, "send exactly the collateral: " + str(collateral))
    reserve_delivery(sender(), delivery, energy_wh, 0)
    put(mine, r[R_SELLERS])
    put("s:" + d + ":" + _slot(r[R_SELLERS]), [sender(), energy_wh, collateral, 0, 0, 0, 0])
    r[R_SELLERS] = r[R_SELLERS] + 1
    r[R_POOL] = r[R_POOL] + energy_wh
    r[R_HELD] = r[R_HELD] + collateral
    put("r:" + d, r)
    emit("pledge", delivery, sender(), energy_wh)


def commit(delivery, commitment):
    """A buyer's blind bid: the hash of (auction, delivery, sender, energy, price, salt), and a
    deposit."""
    p = _params()
    r = _open_round(delivery)
    d = _key(delivery)
    require(_is_bytes(commitment, 32), "a commitment is 32 bytes")
    require(value() >= p[4], "the deposit must be at least " + str(p[4]))
    require(value() < 1000000000000000, "a deposit is below 10**15")
    # Buyers are the community's metered households: keys are free, meters are certified by the
    # operator, so no one fills a round's MAX_BIDS slots with keys of its own.
    require(owner_reading(sender(), delivery)[3] > 0, "a buyer needs a certified meter")
    mine = "bp:" + d + ":" + sender().hex()
    require(get(mine) is None, "one commitment per buyer and round")
    # Buying its own pledge would count its export as energy traded (PoS's E, PoE's TE) with no
    # one on the other side: a round's sellers do not bid in it.
    require(get("sp:" + d + ":" + sender().hex()) is None, "a seller of this round does not bid in it")
    require(r[R_BIDS] < MAX_BIDS, "the round has all the bids it takes")
    put(mine, r[R_BIDS])
    # [bidder, commitment, deposit, energy, price, revealed, allocated Wh, escrow, served Wh, paid]
    put("b:" + d + ":" + _slot(r[R_BIDS]), [sender(), commitment, value(), 0, 0, 0, 0, 0, 0, 0])
    r[R_BIDS] = r[R_BIDS] + 1
    r[R_HELD] = r[R_HELD] + value()
    put("r:" + d, r)
    emit("commit", delivery, sender())


def reveal(delivery, energy_wh, price, salt):
    """The buyer's bid, once commitments have closed: it must hash to the commitment."""
    _no_value()
    p = _params()
    r = _round(delivery)
    d = _key(delivery)
    require(interval() == delivery - 2, "reveals are taken in the interval two before delivery only")
    slot = get("bp:" + d + ":" + sender().hex())
    require(slot is not None, "no commitment of yours in this round")
    k = "b:" + d + ":" + _slot(slot)
    b = get(k)
    require(b[5] == 0, "already revealed")
    require(_is_bytes(salt, 32), "the salt is 32 bytes")
    require(0 < energy_wh and energy_wh < MAX_WH and 0 <= price and price < MAX_PRICE,
            "energy 1 .. 2**24 - 1 Wh, price below 2**31")
    opened = self_address() + to_bytes(delivery, 8) + sender() + to_bytes(energy_wh, 4) + to_bytes(price, 4) + salt
    require(sha256(opened) == b[1], "the bid does not match the commitment")
    require(p[1] <= price and price <= p[2], "the price must be within " + str(p[1]) + " .. " + str(p[2]))
    require(energy_wh * price // 1000 <= b[2], "the deposit does not cover the bid's escrow")
    if certified():  # a withdrawn certification must not cost a bidder its deposit
        reserve_delivery(sender(), delivery, 0, energy_wh)
    put(k, [b[0], b[1], b[2], energy_wh, price, 1, 0, 0, 0, 0])
    r[R_REVEALED] = r[R_REVEALED] + 1
    put("r:" + d, r)


def allocate(delivery):
    """Anyone, once reveals have closed: the pool to the highest prices, deposits returned or
    forfeited, each seller's share of the allocation fixed."""
    _no_value()
    p = _params()
    r = _round(delivery)
    d = _key(delivery)
    require(interval() >= delivery - 1, "reveals are still open")
    require(r[R_STATUS] == OPEN, "already allocated")
    bids = scan("b:" + d + ":", MAX_BIDS)
    prices = []
    energies = []
    revealed = []  # slot of each revealed bid, in commit order
    forfeited = 0
    for i in range(len(bids)):
        b = bids[i][1]
        if b[5] == 1:
            prices.append(b[4])
            energies.append(b[3])
            revealed.append(i)
        else:
            forfeited += b[2]  # never revealed: the deposit is forfeited
    # Highest price first, ties in commit order, until the pool is allocated (Section IV.A).
    taken = precompile("aggregator_take", prices, energies, r[R_POOL], 0, False)
    allocated = [0] * len(bids)
    order = []
    total = 0
    for k, energy, payment in taken:
        allocated[revealed[k]] = energy
        order.append(revealed[k])
        total += energy
    held = 0
    for i in range(len(bids)):
        key, b = bids[i]
        if b[5] == 1:
            escrow = allocated[i] * b[4] // 1000
            if b[2] > escrow:
                transfer(b[0], b[2] - escrow)
            held += escrow
            if b[3] > allocated[i]:
                reserve_delivery(b[0], delivery, 0, allocated[i] - b[3])
            put(key, [b[0], b[1], b[2], b[3], b[4], 1, allocated[i], escrow, 0, 0])
    sellers = scan("s:" + d + ":", MAX_SELLERS)
    shares = []
    given = 0
    for key, s in sellers:
        share = 0
        if r[R_POOL] > 0:
            share = s[1] * total // r[R_POOL]
        shares.append(share)
        given += share
    for i in range(total - given):  # fewer than the sellers, each below its pledge (total < pool)
        shares[i] = shares[i] + 1
    for i in range(len(sellers)):
        key, s = sellers[i]
        kept = shares[i] * p[3] // 1000
        if s[2] > kept:
            transfer(s[0], s[2] - kept)
        held += kept
        if s[1] > shares[i]:
            reserve_delivery(s[0], delivery, shares[i] - s[1], 0)
        put(key, [s[0], s[1], s[2], shares[i], kept, 0, 0])
    if forfeited > 0:
        transfer(p[0], forfeited)
    put("order:" + d, order)
    r[R_STATUS] = ALLOCATED
    r[R_HELD] = held
    r[R_ALLOCATED_AT] = interval()
    r[R_ALLOCATED] = total
    r[R_FORFEITED] = forfeited
    put("r:" + d, r)
    emit("allocated", delivery, total, len(order))
    return [total, len(order), forfeited]


def settle(delivery):
    """Anyone, once delivery has ended and the readings of every member it claims from are in
    (or GRACE intervals have passed): buyers pay for what was delivered, claimed as their import,
    sellers are paid in proportion to what they delivered, escrow and collateral return or are
    forfeited."""
    _no_value()
    p = _params()
    r = _round(delivery)
    d = _key(delivery)
    require(r[R_STATUS] == ALLOCATED, "the round is not allocated, or already settled")
    require(certified(), "the operator must certify this auction before it settles against meters")
    now = interval()
    require(now > delivery, "the delivery interval has not ended")
    sellers = scan("s:" + d + ":", MAX_SELLERS)
    # Each claim and reading scans all of the owner's meters (up to 16), so each seller is scanned
    # at most twice: a claim granted in full proves every meter reported, and a seller short of
    # its own share has no export left to cover anyone with. A served buyer likewise: its claim,
    # and its reading only if the claim fell short.
    delivered = []
    total = 0
    for key, s in sellers:
        got = 0
        if s[3] > 0:
            got = claim_delivery(s[0], delivery, s[3], 0)[0]  # 0 unless every meter reported
            if got < s[3] and now <= delivery + GRACE:
                e = owner_reading(s[0], delivery)  # a missing reading: wait (the revert undoes the claims)
                require(e[3] > 0 and e[2] == e[3], "waiting for meter readings")
        delivered.append(got)
        total += got
    # The coalition pools its energy (Section IV.A): a member's shortfall is covered, in pledge
    # order, by the others' metered export beyond their allocation, up to what they pledged.
    for i in range(len(sellers)):
        s = sellers[i][1]
        short = r[R_ALLOCATED] - total
        if short > 0 and s[1] > s[3] and delivered[i] == s[3]:
            ask = min(short, s[1] - s[3])
            extra = claim_delivery(s[0], delivery, ask, 0)[0]
            if extra < ask and s[3] == 0 and now <= delivery + GRACE:
                e = owner_reading(s[0], delivery)  # no share, so not read yet: wait for it too
                require(e[3] > 0 and e[2] == e[3], "waiting for meter readings")
            delivered[i] = delivered[i] + extra
            total += extra
    first = -1  # the first seller in pledge order who delivered: it gets the division's remainder
    for i in range(len(sellers)):
        if delivered[i] > 0 and first < 0:
            first = i
    # The delivered Wh serve the bids in allocation order: the highest price first. What a bid is
    # served is its buyer's import: claimed as such (as far as its meters show it), so no other
    # market, such as a real-time settlement pricing every member's metered import, charges the
    # buyer for the same Wh again.
    left = total
    proceeds = 0
    for i in get("order:" + d):
        key = "b:" + d + ":" + _slot(i)
        b = get(key)
        served = min(b[6], left)
        left -= served
        if served > 0 and claim_delivery(b[0], delivery, 0, served)[1] < served and now <= delivery + GRACE:
            e = owner_reading(b[0], delivery)  # its import is not all in: wait for its readings too
            require(e[3] > 0 and e[2] == e[3], "waiting for meter readings")
        if b[6] > served:
            reserve_delivery(b[0], delivery, 0, served - b[6])  # the allocation it was not served
        pay = served * b[4] // 1000
        if b[7] > pay:
            transfer(b[0], b[7] - pay)
        proceeds += pay
        put(key, [b[0], b[1], b[2], b[3], b[4], 1, b[6], b[7], served, pay])
    shares = [0] * len(sellers)
    paid = 0
    for i in range(len(sellers)):
        if total > 0:
            shares[i] = proceeds * delivered[i] // total
        paid += shares[i]
    if first >= 0:
        shares[first] = shares[first] + proceeds - paid
    forfeited = 0
    for i in range(len(sellers)):
        key, s = sellers[i]
        returned = min(delivered[i], s[3]) * p[3] // 1000  # the collateral of its allocation only
        forfeited += s[4] - returned
        put(key, [s[0], s[1], s[2], s[3], s[4], delivered[i], shares[i]])
        if shares[i] + returned > 0:
            transfer(s[0], shares[i] + returned)
    if forfeited > 0:
        transfer(p[0], forfeited)
    r[R_STATUS] = SETTLED
    r[R_HELD] = 0
    r[R_SETTLED_AT] = now
    r[R_DELIVERED] = total
    r[R_PROCEEDS] = proceeds
    r[R_FORFEITED] = r[R_FORFEITED] + forfeited
    put("r:" + d, r)
    emit("settled", delivery, total, proceeds)
    return [total, proceeds, forfeited]


def round_info(delivery):
    """[status, pooled Wh, sellers, bids, held, opened at, allocated at, settled at, allocated Wh,
    delivered Wh, proceeds, forfeited, revealed bids], or None."""
    _no_value()
    return get("r:" + _key(delivery))


def seller(delivery, i):
    """A pledge: [seller, pledged Wh, collateral, allocated Wh, collateral kept, delivered Wh, paid]."""
    _no_value()
    return get("s:" + _key(delivery) + ":" + _slot(i))


def bid(delivery, i):
    """A commitment: [bidder, commitment, deposit, energy, price, revealed, allocated Wh, escrow,
    served Wh, paid]."""
    _no_value()
    return get("b:" + _key(delivery) + ":" + _slot(i))


def holding(delivery):
    """Milli-cents the round holds for its sellers and buyers: the contract's balance is the sum."""
    _no_value()
    r = get("r:" + _key(delivery))
    return 0 if r is None else r[R_HELD]
