"""The clock every date check uses: ``today()`` (a leaf module: imports nothing from flyer.data).

``FLYER_TODAY=YYYY-MM-DD`` fixes it, for tests and replays (the suite pins it; a test that needs
another day sets it itself).
"""
from __future__ import annotations

import datetime as dt
import os

from flyer.core.errors import FlyerError


def today() -> dt.date:
    """The clock: ``$FLYER_TODAY`` when set (YYYY-MM-DD), else the system date."""
    fixed = os.environ.get("FLYER_TODAY")
    if fixed:
        try:
            return dt.date.fromisoformat(fixed)
        except ValueError:
            raise FlyerError(f"FLYER_TODAY must be YYYY-MM-DD, got {fixed!r}") from None
    return dt.date.today()
