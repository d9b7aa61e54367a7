"""Fixtures shared by the simulator's tests."""

from __future__ import annotations

import pytest

from consensus.engine import Engine


@pytest.fixture
def decoded(monkeypatch) -> list[int]:  # noqa: ANN001
    """The sizes of the envelopes the engines decoded while the test runs."""
    sizes: list[int] = []
    real = Engine._decode

    def counting(self, data):  # noqa: ANN001, ANN202
        sizes.append(len(data))
        return real(self, data)

    monkeypatch.setattr(Engine, "_decode", counting)
    return sizes
