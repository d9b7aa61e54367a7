"""The node: assembly, CLI, P2P transport, HTTP API, local clusters and the embedding API."""
