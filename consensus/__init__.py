"""Consensus engines as sans-IO state machines (PBFT, PoS, Proof of Energy) and a deterministic
network simulator. Depends on `ledger` only."""
