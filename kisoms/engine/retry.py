"""Exponential backoff with full jitter, bounded by attempts and a deadline."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays for retries: ``base * 2**n`` capped at ``max_delay``, full jitter, at most ``attempts`` tries."""

    base: float
    max_delay: float
    attempts: int
    deadline: float  # seconds from the first try
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, retry_number: int) -> float:
        """Delay before retry ``retry_number`` (1 = the first retry)."""
        cap = min(self.max_delay, self.base * (2 ** (retry_number - 1)))
        return self.rng.uniform(cap / 2, cap)

    def allows(self, tries_done: int, elapsed: float, next_delay: float) -> bool:
        """Whether another try fits within the attempt count and the deadline."""
        return tries_done < self.attempts and elapsed + next_delay < self.deadline
