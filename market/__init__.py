"""Market rules: clearing kernels, market contracts, settlement."""
