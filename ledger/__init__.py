"""The ledger core: canonical encoding, keys, transactions, blocks, merkle trees, state, storage
and mempool. Depends on nothing else of ours."""
