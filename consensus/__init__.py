"""Consensus engines as sans-IO state machines (PBFT, PoS, Proof of Energy) and a deterministic
network simulator. Arrives with issue 3; depends on `ledger` only."""
