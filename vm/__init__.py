"""The deterministic contract VM. Arrives with issue 4; depends on `ledger` only."""
