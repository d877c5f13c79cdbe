"""A deadline object passed down instead of loose seconds (after labgrid's Timeout)."""

import time


class Deadline:
    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self._end = None if seconds is None else time.monotonic() + seconds

    @property
    def remaining(self) -> float:
        if self._end is None:
            return float("inf")
        return max(0.0, self._end - time.monotonic())

    @property
    def expired(self) -> bool:
        return self._end is not None and time.monotonic() >= self._end

    def cap(self, seconds: float) -> float:
        """The smaller of `seconds` and what is left."""
        return min(seconds, self.remaining)

    def __repr__(self) -> str:
        return f"Deadline(remaining={self.remaining:.2f}s)"
