"""A small reorder buffer for one speaker's RTP stream: frames leave in sequence order, late
ones are dropped, and a missing frame becomes a gap (``None``, played as 20 ms of silence) once
``depth`` later frames have arrived — so reordering up to ``depth`` packets costs no audio and
loss costs at most ``depth`` frames (``depth * 20`` ms) of delay.

Why sequence numbers and not arrival times: Discord's SFU forwards packets as they come, and UDP
may swap or lose them; the RTP sequence number (16 bits, wrapping) is the only order the sender
vouches for. The timestamp is not used to insert silence: a client stops sending while its user
is quiet (after five Opus silence frames), so a timestamp jump is a pause, not a loss.
"""

from __future__ import annotations

import dataclasses

SEQ_MOD = 1 << 16
MAX_JUMP = 200
"""A sequence number this far ahead (4 s of frames) starts a new stream instead of 200 gaps."""


def seq_distance(a: int, b: int) -> int:
    """``b - a`` in 16-bit sequence space, in [-32768, 32767]."""
    return (b - a + SEQ_MOD // 2) % SEQ_MOD - SEQ_MOD // 2


@dataclasses.dataclass
class JitterStats:
    received: int = 0
    late: int = 0
    """Arrived after their place was given up (counted as lost already) or duplicated."""
    lost: int = 0
    """Gaps filled with silence."""
    reordered: int = 0
    """Arrived before an earlier-numbered frame, and were put back in order."""


class JitterBuffer:
    def __init__(self, depth: int = 3) -> None:
        self.depth = depth
        self.next: int | None = None
        """The sequence number of the next frame to release."""
        self._held: dict[int, bytes] = {}
        self._highest: int | None = None
        self.stats = JitterStats()

    def push(self, sequence: int, payload: bytes) -> list[bytes | None]:
        """Add a frame; returns the frames (``None`` for a lost one) that may now be released, in order."""
        self.stats.received += 1
        if self.next is None or abs(seq_distance(self.next, sequence)) > MAX_JUMP:
            self._held.clear()
            self.next = self._highest = sequence
        offset = seq_distance(self.next, sequence)
        if offset < 0 or sequence in self._held:
            self.stats.late += 1
            return []
        assert self._highest is not None
        if seq_distance(self._highest, sequence) < 0:
            self.stats.reordered += 1
        else:
            self._highest = sequence
        self._held[sequence] = payload
        return self._release(force=False)

    def flush(self) -> list[bytes | None]:
        """Everything held, gaps included (the stream paused: no more reordering to wait for)."""
        out = self._release(force=True)
        self.next = None
        self._highest = None
        return out

    def _release(self, *, force: bool) -> list[bytes | None]:
        out: list[bytes | None] = []
        while self._held and self.next is not None:
            if self.next in self._held:
                out.append(self._held.pop(self.next))
            else:
                assert self._highest is not None
                if not force and seq_distance(self.next, self._highest) < self.depth:
                    break
                out.append(None)
                self.stats.lost += 1
            self.next = (self.next + 1) % SEQ_MOD
        return out
