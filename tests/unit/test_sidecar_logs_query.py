"""``since`` parsing: an unencoded ``+`` arrives as a space and is restored."""

from __future__ import annotations

import pytest

from producer.sidecar.routes import _plus_restored


@pytest.mark.parametrize(
    ("raw", "restored"),
    [
        ("2025-11-08T12:00:00.123456 00:00", "2025-11-08T12:00:00.123456+00:00"),
        ("2025-11-08T12:00:00 05:30", "2025-11-08T12:00:00+05:30"),
        ("2025-11-08T12:00:00+00:00", "2025-11-08T12:00:00+00:00"),
        ("2025-11-08T12:00:00Z", "2025-11-08T12:00:00Z"),
        ("2025-11-08T12:00:00-02:00", "2025-11-08T12:00:00-02:00"),
        ("junk", "junk"),
    ],
)
def test_plus_restored(raw: str, restored: str) -> None:
    assert _plus_restored(raw) == restored
