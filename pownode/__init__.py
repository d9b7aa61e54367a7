"""The node: assembly, CLI, and (with issue 6) P2P transport, HTTP API and local clusters."""
