"""The deterministic contract VM. Depends on `ledger` only."""
