"""Entity states as a persistent Markov chain per entity, computable at any step directly.

The chain is ``P = p·I + (1 − p)·1πᵀ``: at each step an entity keeps its state with probability
``p`` (the *persistence*), else redraws it from ``π``. Its stationary distribution is exactly ``π``
and, started from a ``π``-draw, every step is distributed as ``π``. The state at step ``n`` is the
``π``-draw made at the last redraw step ``m ≤ n``, so it can be found without iterating from the
start: scan back from ``n`` over keyed per-(entity, step) words until a redraw (or the entity's
first step, where it always draws). Scans are vectorised over entities and bounded by ``scan_limit``
(``K``) steps; if no redraw is found within ``K`` steps back, the draw of the first step is used. That
happens with probability ``p**K`` per (entity, step) (1.2e-6 for ``p = 0.95``, ``K = 256``), and
only stretches a run, it never breaks determinism.

A state keeps for ``1 / ((1 − p)(1 − π_i))`` steps on average (a redraw may pick the same state);
redraws happen every ``1 / (1 − p)`` steps on average.

Words: entity ``e``'s key is ``SeedSequence([seed, tag, e])`` (:class:`EntityKeys`); word ``2n`` of
its stream decides whether step ``n`` redraws, word ``2n + 1`` is step ``n``'s ``π``-draw. So a state
depends only on (seed, tag, entity ordinal, step, first step), never on other entities.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from producer.generation.blocks.counts import validate_weights, weighted_choice
from producer.generation.streams import EntityKeys, unit_floats, words

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]

DEFAULT_SCAN_LIMIT = 256


class MarkovStates:
    """Per-entity persistent Markov states with stationary shares ``weights``.

    Args:
        seed: The dataset seed.
        stream_tag: The stream's tag (``tag("tapflow.device-status")``).
        weights: Stationary shares ``π`` per state (non-negative, summing to 1).
        persistence: Probability ``p`` in ``[0, 1)`` of keeping the state at a step.
        scan_limit: How many steps back at most to look for the last redraw (``K >= 1``).

    Raises:
        ValueError: On invalid weights, persistence or scan limit.
    """

    def __init__(
        self,
        seed: int,
        stream_tag: int,
        weights: Sequence[float],
        persistence: float,
        scan_limit: int = DEFAULT_SCAN_LIMIT,
    ) -> None:
        self.weights = tuple(float(w) for w in validate_weights(weights).tolist())
        if not 0.0 <= persistence < 1.0:
            raise ValueError(f"persistence must be in [0, 1), got {persistence}")
        if scan_limit < 1:
            raise ValueError(f"scan_limit must be >= 1, got {scan_limit}")
        self.persistence = float(persistence)
        self.scan_limit = scan_limit
        self._keys = EntityKeys(seed, stream_tag)

    def at(self, ordinals: I64, steps: I64 | int, first_step: I64 | int | None = None) -> I64:
        """Each entity's state at its step (broadcast), as an index into ``weights``.

        Args:
            ordinals: Entity ordinals (``>= 0``).
            steps: The step per entity (e.g. an interval index), or one for all.
            first_step: Each entity's first step (it draws from ``π`` there; steps before it are
                treated as that step), or one for all; ``None`` means 0.

        Returns:
            State indices, shaped like the broadcast inputs.

        Raises:
            ValueError: If a step or ordinal is negative.
        """
        ordinals_b, steps_b, first_b = np.broadcast_arrays(
            np.asarray(ordinals, dtype=np.int64),
            np.asarray(steps, dtype=np.int64),
            np.asarray(0 if first_step is None else first_step, dtype=np.int64),
        )
        shape = ordinals_b.shape
        ordinal = ordinals_b.ravel()
        first = first_b.ravel()
        step = np.maximum(steps_b.ravel(), first)
        if ordinal.size == 0:
            return np.zeros(shape, dtype=np.int64)
        if ordinal.min() < 0 or first.min() < 0:
            raise ValueError("ordinals and steps must be >= 0")
        keys = self._keys[ordinal]
        drawn_at = self._last_redraw(keys, step, first)
        draws = words(keys, 2 * drawn_at + 1)
        return weighted_choice(draws, self.weights).reshape(shape)

    def at_consecutive(
        self, ordinals: I64, start_steps: I64, count: int, first_step: I64 | int | None = None
    ) -> I64:
        """Each entity's states at ``count`` consecutive steps from its start step, as ``(n, count)``.

        Equal, cell by cell, to :meth:`at` of the same steps, with one scan-back per entity instead
        of one per cell: the state at a later step is the draw of the last redraw among the steps
        after the start, else the start's; either only while within ``scan_limit`` steps, else the
        first step's draw (which is what :meth:`at`'s bounded scan finds there too).

        Args:
            ordinals: Entity ordinals, one per row.
            start_steps: The first step per row.
            count: How many consecutive steps (``>= 1``).
            first_step: Each entity's first step, or one for all; ``None`` means 0.
        """
        ordinal = np.asarray(ordinals, dtype=np.int64).ravel()
        start = np.asarray(start_steps, dtype=np.int64).ravel()
        first = np.broadcast_to(
            np.asarray(0 if first_step is None else first_step, dtype=np.int64), ordinal.shape
        )
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        if ordinal.size == 0:
            return np.zeros((0, count), dtype=np.int64)
        if ordinal.min() < 0 or first.min() < 0:
            raise ValueError("ordinals and steps must be >= 0")
        keys = self._keys[ordinal]
        steps = np.maximum(start[:, None] + np.arange(count, dtype=np.int64)[None, :], first[:, None])
        drawn_first = self._last_redraw(keys, steps[:, 0], first.copy())
        later = steps[:, 1:]
        redraws = (later > first[:, None]) & (
            unit_floats(words(keys[:, None], 2 * later)) >= self.persistence
        )
        latest = np.maximum.accumulate(np.where(redraws, later, -1), axis=1)
        candidate = np.where(latest >= 0, latest, drawn_first[:, None])
        in_window = candidate > later - self.scan_limit
        drawn_at = np.column_stack([drawn_first, np.where(in_window, candidate, first[:, None])])
        draws = words(keys[:, None], 2 * drawn_at + 1)
        return weighted_choice(draws.ravel(), self.weights).reshape(drawn_at.shape)

    def changed(
        self, ordinals: I64, step: I64 | int, first_step: I64 | int | None = None
    ) -> npt.NDArray[np.bool_]:
        """Whether each entity's state at ``step`` differs from ``step − 1`` (to emit a new version).

        At an entity's first step the answer is ``True`` (its first version); before it, ``False``.
        """
        ordinals_b, steps_b, first_b = np.broadcast_arrays(
            np.asarray(ordinals, dtype=np.int64),
            np.asarray(step, dtype=np.int64),
            np.asarray(0 if first_step is None else first_step, dtype=np.int64),
        )
        now = self.at(ordinals_b, steps_b, first_b)
        before = self.at(ordinals_b, np.maximum(steps_b - 1, first_b), first_b)
        result: npt.NDArray[np.bool_] = np.where(
            steps_b == first_b, True, (steps_b > first_b) & (now != before)
        )
        return result

    def _last_redraw(self, keys: U64, step: I64, first: I64) -> I64:
        """The last step ``m ≤ step`` that redraws (``first`` always does), scanning at most K back."""
        drawn_at = first.copy()
        pending = np.flatnonzero(step > first)
        candidate = step[pending]
        for _ in range(self.scan_limit):
            if pending.size == 0:
                break
            redraws = unit_floats(words(keys[pending], 2 * candidate)) >= self.persistence
            found = redraws | (candidate <= first[pending])
            drawn_at[pending[found]] = np.maximum(candidate[found], first[pending[found]])
            pending, candidate = pending[~found], candidate[~found] - 1
        return drawn_at
