"""Vote tracking for consensus, pure: ``vote`` events in, decisions and deadlocks out.

A topic opens with its first vote. Each agent's latest choice counts (an agent that
changes its mind replaces its vote). The topic is decided, and closed, when at least
``quorum`` agents voted (``[consensus] min_votes``, but never more than the agents that
can vote) and the leading choice has the share the strategy asks for: ``unanimous`` all
of them, ``majority`` more than half, ``weighted``/``priority`` at least ``threshold``
(votes carry no weights in protocol v1, so every vote weighs the same).

A *contested* topic (two or more different choices seen) still open after
``vote_timeout_secs`` is a consensus deadlock (``Classifier.consensus``). An uncontested
topic that never reaches its quorum is dropped after the timeout: too few voters is not
a deadlock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from supervisor.config.schema import ConsensusSpec
from supervisor.errors import CheckpointCorrupt, CheckpointVersionError

VOTES_SCHEMA = 1


@dataclass
class Topic:
    opened: float  # session time of the first vote
    votes: dict[str, str] = field(default_factory=dict)  # agent -> latest choice
    seen: set[str] = field(default_factory=set)  # every choice ever voted
    rounds: int = 0

    @property
    def contested(self) -> bool:
        return len(self.seen) > 1


@dataclass(frozen=True)
class Outcome:
    topic: str
    choice: str
    voters: int
    share: float


class VoteTracker:
    def __init__(self, spec: ConsensusSpec):
        self.spec = spec
        self.topics: dict[str, Topic] = {}
        self.decided: list[Outcome] = []

    def observe(self, agent_id: str, topic: str, choice: str, now: float,
                voters_available: int) -> Outcome | None:
        """Count one vote; the outcome when it decides the topic (which then closes)."""
        t = self.topics.get(topic)
        if t is None:
            t = self.topics[topic] = Topic(opened=now)
        t.votes[agent_id] = choice
        t.seen.add(choice)
        t.rounds += 1
        outcome = self._decide(topic, t, voters_available)
        if outcome is not None:
            del self.topics[topic]
            self.decided.append(outcome)
            del self.decided[:-50]
        return outcome

    def quorum(self, voters_available: int) -> int:
        return max(1, min(self.spec.min_votes, voters_available))

    def _decide(self, topic: str, t: Topic, voters_available: int) -> Outcome | None:
        voters = len(t.votes)
        if voters < self.quorum(voters_available):
            return None
        counts: dict[str, int] = {}
        for c in t.votes.values():
            counts[c] = counts.get(c, 0) + 1
        choice, top = max(sorted(counts.items()), key=lambda kv: kv[1])
        share = top / voters
        strategy = self.spec.strategy
        if strategy == "unanimous":
            ok = share >= 1.0
        elif strategy == "majority":
            ok = share > 0.5
        else:  # weighted, priority: equal weights in protocol v1
            ok = share >= self.spec.threshold
        return Outcome(topic, choice, voters, round(share, 3)) if ok else None

    def contested(self) -> dict[str, float]:
        """Open contested topics -> when they opened (what ``Classifier.consensus`` reads)."""
        return {name: t.opened for name, t in self.topics.items() if t.contested}

    def expire(self, now: float) -> list[str]:
        """Drop uncontested topics older than the timeout (no quorum is not a deadlock)."""
        old = [name for name, t in self.topics.items()
               if not t.contested and now - t.opened > self.spec.vote_timeout_secs]
        for name in old:
            del self.topics[name]
        return old

    def clear(self, topics: list[str] | None = None) -> None:
        """Forget open topics (all, or these): after an escalation a human decides."""
        for name in list(self.topics) if topics is None else topics:
            self.topics.pop(name, None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": VOTES_SCHEMA,
            "topics": {name: {"opened": t.opened, "votes": dict(t.votes),
                              "seen": sorted(t.seen), "rounds": t.rounds}
                       for name, t in self.topics.items()},
        }

    @classmethod
    def from_dict(cls, spec: ConsensusSpec, data: Mapping[str, Any],
                  source: str = "<votes>") -> VoteTracker:
        if not isinstance(data, Mapping):
            raise CheckpointCorrupt(source, "vote state is not a mapping")
        if data.get("schema") != VOTES_SCHEMA:
            raise CheckpointVersionError(source, f"vote state schema {data.get('schema')!r}, "
                                                 f"this supervisor reads {VOTES_SCHEMA}")
        tracker = cls(spec)
        try:
            for name, t in dict(data.get("topics", {})).items():
                tracker.topics[str(name)] = Topic(
                    opened=float(t["opened"]),
                    votes={str(a): str(c) for a, c in dict(t.get("votes", {})).items()},
                    seen={str(c) for c in t.get("seen", [])}, rounds=int(t.get("rounds", 0)))
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            raise CheckpointCorrupt(source, f"malformed vote state: {err}") from err
        return tracker
