"""Market rules: clearing kernels, market contracts, settlement. Arrives with issue 5."""
