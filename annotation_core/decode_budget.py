"""Large decodes take turns: a process-wide budget of pixels being decoded at once.

A full decode holds about 4 bytes per pixel and more (a 12 MP WebP costs ~200 MiB in Pillow), so several very
large images decoded at once by a worker's threads add up to a spike that can take the process past its
memory. Each decode takes its image's pixel count from the budget and gives it back when done: small and
medium images run side by side as before, and an image as large as the whole budget waits until it is alone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

DECODE_BUDGET_PIXELS = 48_000_000  # two 24 MP decodes at once, or one larger


class PixelBudget:
    """A counting semaphore whose units are pixels."""

    def __init__(self, pixels: int):
        self.capacity = pixels
        self.in_use = 0
        self._changed = threading.Condition()

    @contextmanager
    def take(self, pixels: int) -> Iterator[None]:
        """Hold `pixels` (at most the whole budget) while the block runs; wait until they are free."""
        wanted = max(0, min(pixels, self.capacity))
        with self._changed:
            self._changed.wait_for(lambda: self.in_use + wanted <= self.capacity)
            self.in_use += wanted
        try:
            yield
        finally:
            with self._changed:
                self.in_use -= wanted
                self._changed.notify_all()


DECODES = PixelBudget(DECODE_BUDGET_PIXELS)
