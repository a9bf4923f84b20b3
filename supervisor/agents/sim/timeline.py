"""The agent's own clock: phase time that stands still while the agent is held.

External time is session seconds since the process started (the runtime measures it);
local time is session seconds into the phase, frozen while the agent is quiesced or
throttled, so nothing piles up to burst out when it is let go.
"""

from __future__ import annotations


class Timeline:
    def __init__(self, start: float = 0.0):
        self.start = start  # local time at external time 0 (phase time already spent)
        self.frozen_total = 0.0
        self.frozen_since: float | None = None

    @property
    def frozen(self) -> bool:
        return self.frozen_since is not None

    def local(self, ext: float) -> float:
        held = self.frozen_total
        if self.frozen_since is not None:
            held += max(0.0, ext - self.frozen_since)
        return self.start + ext - held

    def to_ext(self, local: float) -> float:
        """The external time at which ``local`` is reached (if not frozen meanwhile)."""
        return local - self.start + self.frozen_total

    def freeze(self, ext: float) -> None:
        if self.frozen_since is None:
            self.frozen_since = ext

    def thaw(self, ext: float) -> None:
        if self.frozen_since is not None:
            self.frozen_total += max(0.0, ext - self.frozen_since)
            self.frozen_since = None
