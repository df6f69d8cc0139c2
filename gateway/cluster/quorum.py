"""Which replicas a quorum call asks, and when it has heard enough. Pure: no I/O, no
clock. ClusterStore._gather drives a Round with the answers as they arrive.

A read asks only as many replicas as its quorum needs (every extra call costs CPU on
the gateway and a node), and one more for each that fails, and one more for each answer still missing when the
hedge delay passes without a quorum. A write asks every live replica.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Generic, TypeVar

# After a quorum answered, how long to wait for the stragglers.
STRAGGLER_GRACE = 0.05

Node = TypeVar("Node")
Answer = TypeVar("Answer")


class Round(Generic[Node, Answer]):
    """One call to several nodes: ask `ask` of them first (all if 0), a spare for each
    failure or hedge; met once `need` answered, settled once none is outstanding."""

    def __init__(self, live: Sequence[Node], need: int, ask: int = 0) -> None:
        self.need = need
        self.answers: list[tuple[Node, Answer]] = []
        self.failures: list[Node] = []
        self._first = list(live[:ask] if ask else live)
        self._spares: deque[Node] = deque(live[ask:] if ask else ())
        self._outstanding = 0

    def first(self) -> list[Node]:
        """The nodes to ask at once."""
        self._outstanding += len(self._first)
        return self._first

    def answered(self, node: Node, answer: Answer) -> None:
        self._outstanding -= 1
        self.answers.append((node, answer))

    def failed(self, node: Node) -> Node | None:
        """Record a failure; the spare to ask in its place, if any."""
        self._outstanding -= 1
        self.failures.append(node)
        return self._spare()

    def hedge(self) -> list[Node]:
        """The hedge delay passed: a spare to ask as well for each answer the quorum
        still lacks (several nodes may be slow at once)."""
        spares = []
        for _ in range(max(0, self.need - len(self.answers))):
            spare = self._spare()
            if spare is None:
                break
            spares.append(spare)
        return spares

    @property
    def can_hedge(self) -> bool:
        return bool(self._spares) and not self.met

    @property
    def met(self) -> bool:
        return len(self.answers) >= self.need

    @property
    def settled(self) -> bool:
        return self._outstanding == 0

    def _spare(self) -> Node | None:
        if not self._spares:
            return None
        self._outstanding += 1
        return self._spares.popleft()
