"""DAVE as the voice gateway runs it for one call (daveprotocol.com): protocol version, the MLS
group through the external sender, and the transitions that switch senders over.

- Version: 1 while every member offers DAVE, 0 ("transport only") as soon as one does not. A
  non-DAVE joiner **downgrades** the call (op 21 to version 0, 23 from each member, then 22); when
  the last one leaves, the call **upgrades** (op 24 with epoch 1: a new group is formed).
- Group: the external sender's package (op 25) goes to each DAVE member; a key package (op 26)
  becomes a signed add proposal (op 27) — to the other pending members while no group exists, to
  the group's members after. The first valid commit (op 28) for the epoch wins: op 29 to the
  members, op 30 (the welcome, only the joiner's secrets) to those it adds; a transition id ties
  the members' op 23 to the op 22 that follows. Leaving members are removed; a member left alone
  is reset (op 24 epoch 1 + op 21 transition 0). Op 31 from a member is answered by removing it
  and re-adding it with the next key package, in one batch.
- Faults for tests: ``refuse_commits`` (user -> count: that member's next commits are refused as
  invalid) and ``spoil`` (user -> count: the next commit/welcome handed to it is damaged).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from framework.emulator import mls_gateway as mls

log = logging.getLogger(__name__)

TRANSITION_TIMEOUT = 2.0
"""Seconds the gateway waits for every member's op 23 before executing a transition anyway."""


@dataclasses.dataclass(eq=False)
class Member:
    """What the coordinator needs of a call member's voice session."""

    user_id: int
    dave: bool
    """It offered ``max_dave_protocol_version >= 1``."""
    send_json: Callable[[int, Any], Awaitable[None]]
    send_binary: Callable[[int, bytes], Awaitable[None]]


@dataclasses.dataclass
class Transition:
    id: int
    version: int
    waiting: set[int]
    epoch: int
    started: float = dataclasses.field(default_factory=time.monotonic)
    executed: float | None = None


@dataclasses.dataclass
class Event:
    """One thing the gateway did or saw, for assertions (``kind``: commit, refused, invalid, ...)."""

    kind: str
    user_id: int
    detail: str = ""
    epoch: int = 0
    transition: int = 0
    at: float = dataclasses.field(default_factory=time.monotonic)


class DaveCall:
    """The DAVE state of one call on the voice server."""

    def __init__(self, channel_id: int, *, enabled: bool, transition_timeout: float = TRANSITION_TIMEOUT) -> None:
        self.channel_id = channel_id
        self.enabled = enabled and mls.available()
        """DAVE offered by the server and the MLS pieces (rfc9420) importable."""
        self.transition_timeout = transition_timeout
        self.members: dict[int, Member] = {}
        self.version = 1 if self.enabled else 0
        self.group = mls.GroupView(channel_id)
        self._sender: mls.ExternalSender | None = None
        self.pending: dict[int, mls.KeyPackageInfo] = {}
        """Key packages of members waiting to be added."""
        self.proposed: dict[int, list[mls.Proposal]] = {}
        """Before the group exists: the add proposals each pending member was sent."""
        self.epoch_proposals: list[mls.Proposal] = []
        """Once it exists: the unrevoked proposals broadcast in the current epoch."""
        self.flagged: set[int] = set()
        """Members that sent op 31: removed and re-added together with their next key package."""
        self.transitions: dict[int, Transition] = {}
        self.executed: list[Transition] = []
        self.events: list[Event] = []
        self.refuse_commits: dict[int, int] = {}
        self.spoil: dict[int, int] = {}
        self._next_transition = 1
        self._lock = asyncio.Lock()
        self._timers: set[asyncio.Task[None]] = set()

    @property
    def sender(self) -> mls.ExternalSender:
        if self._sender is None:
            self._sender = mls.ExternalSender()
        return self._sender

    @property
    def epoch(self) -> int:
        return self.group.epoch

    def events_of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]

    def version_with(self, dave: bool) -> int:
        """The protocol version a member joining now is told in op 4."""
        return 1 if self.enabled and dave and all(m.dave for m in self.members.values()) else 0

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()

    # ------------------------------------------------------------------ membership
    async def joined(self, member: Member) -> None:
        async with self._lock:
            others = list(self.members.values())
            self.members[member.user_id] = member
            if others:
                await member.send_json(11, {"user_ids": [str(m.user_id) for m in others]})
            for other in others:
                await other.send_json(11, {"user_ids": [str(member.user_id)]})
            if not self.enabled:
                return
            if not member.dave and self.version == 1:
                await self._downgrade()
            elif member.dave and self.version == 1:
                await member.send_binary(25, self.sender.package)

    async def left(self, user_id: int) -> None:
        async with self._lock:
            if self.members.pop(user_id, None) is None:
                return
            for other in self.members.values():
                await other.send_json(13, {"user_id": str(user_id)})
            self.flagged.discard(user_id)
            if not self.enabled:
                return
            if self.version == 0:
                if self.members and all(m.dave for m in self.members.values()):
                    await self._upgrade()
                return
            await self._revoke_pending(user_id)
            leaf = self.group.leaf_of(user_id)
            if leaf is None:
                return
            remaining = [u for u in self.group.members if u != user_id]
            if len(remaining) <= 1:
                await self._sole_member_reset(remaining)
                return
            await self._broadcast_proposals([self.sender.remove(self.group.group_id, self.epoch, leaf, user_id)])

    async def _revoke_pending(self, user_id: int) -> None:
        """A pending member left before being added: revoke the add proposals naming it."""
        self.pending.pop(user_id, None)
        self.proposed.pop(user_id, None)
        for recipient, proposals in self.proposed.items():
            gone = [p for p in proposals if p.user_id == user_id]
            if gone and recipient in self.members:
                self.proposed[recipient] = [p for p in proposals if p.user_id != user_id]
                await self.members[recipient].send_binary(27, mls.revoke_message([p.ref for p in gone]))
        gone = [p for p in self.epoch_proposals if p.kind == "add" and p.user_id == user_id]
        if gone:
            self.epoch_proposals = [p for p in self.epoch_proposals if p not in gone]
            for member in self._group_members():
                await member.send_binary(27, mls.revoke_message([p.ref for p in gone]))

    def _group_members(self) -> list[Member]:
        return [self.members[u] for u in self.group.members if u in self.members]

    # ------------------------------------------------------------------ version changes
    def _new_transition(self, version: int, waiting: set[int]) -> Transition:
        transition = Transition(self._next_transition, version, waiting, self.epoch)
        self._next_transition += 1
        self.transitions[transition.id] = transition
        timer = asyncio.get_running_loop().create_task(self._expire(transition))
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)
        return transition

    async def _downgrade(self) -> None:
        dave_members = [m for m in self.members.values() if m.dave]
        transition = self._new_transition(0, {m.user_id for m in dave_members})
        self.version = 0
        self.events.append(Event("downgrade", 0, transition=transition.id))
        for member in dave_members:
            await member.send_json(21, {"transition_id": transition.id, "protocol_version": 0})
        self._forget_group()

    async def _upgrade(self) -> None:
        self.version = 1
        self._forget_group()
        self.events.append(Event("upgrade", 0))
        for member in self.members.values():
            await member.send_json(24, {"epoch": 1, "protocol_version": 1})
            await member.send_binary(25, self.sender.package)

    async def _sole_member_reset(self, remaining: list[int]) -> None:
        self._forget_group()
        self.events.append(Event("sole-member-reset", remaining[0] if remaining else 0))
        for user_id in remaining:
            if user_id in self.members:
                await self.members[user_id].send_json(24, {"epoch": 1, "protocol_version": self.version})
                await self.members[user_id].send_json(21, {"transition_id": 0, "protocol_version": self.version})

    def _forget_group(self) -> None:
        self.group.reset()
        self.pending.clear()
        self.proposed.clear()
        self.epoch_proposals.clear()
        self.flagged.clear()

    # ------------------------------------------------------------------ MLS messages
    async def key_package(self, user_id: int, raw: bytes) -> None:
        async with self._lock:
            if not self.enabled or self.version == 0 or user_id not in self.members:
                return
            try:
                package = self.sender.key_package(raw, user_id)
            except mls.InvalidMls as exc:
                self.events.append(Event("refused-key-package", user_id, str(exc), self.epoch))
                log.warning("refused key package from %s: %s", user_id, exc)
                return
            self.pending[user_id] = package
            gid = self.group.group_id
            if self.group.established:
                batch = []
                leaf = self.group.leaf_of(user_id)
                if leaf is not None:  # re-added after op 31: remove its stale leaf in the same commit
                    batch.append(self.sender.remove(gid, self.epoch, leaf, user_id))
                    self.flagged.discard(user_id)
                batch.append(self.sender.add(gid, self.epoch, package))
                await self._broadcast_proposals(batch, exclude=user_id)
                return
            self.proposed.setdefault(user_id, [])
            for other, proposals in self.proposed.items():
                if other == user_id or other not in self.members:
                    continue
                stale = [p for p in proposals if p.user_id == user_id]  # a replaced key package
                if stale:
                    await self.members[other].send_binary(27, mls.revoke_message([p.ref for p in stale]))
                    proposals[:] = [p for p in proposals if p.user_id != user_id]
                fresh = self.sender.add(gid, 0, package)
                proposals.append(fresh)
                await self.members[other].send_binary(27, mls.proposals_message([fresh]))
            mine = [self.sender.add(gid, 0, self.pending[o]) for o in self.proposed if o != user_id]
            self.proposed[user_id] = mine
            if mine:
                await self.members[user_id].send_binary(27, mls.proposals_message(mine))

    async def _broadcast_proposals(self, batch: list[mls.Proposal], *, exclude: int | None = None) -> None:
        """Send proposals to the group's members (not to one being re-added: it has no group state)."""
        self.epoch_proposals.extend(batch)
        message = mls.proposals_message(batch)
        for member in self._group_members():
            if member.user_id != exclude:
                await member.send_binary(27, message)

    async def commit_welcome(self, user_id: int, data: bytes) -> None:
        async with self._lock:
            if not self.enabled or self.version == 0:
                return
            if self.refuse_commits.get(user_id, 0) > 0:
                self.refuse_commits[user_id] -= 1
                self.events.append(Event("refused", user_id, "refused by a test fault", self.epoch))
                return
            established = self.group.established
            expected = self.epoch_proposals if established else self.proposed.get(user_id, [])
            try:
                info = self.group.inspect(data, committer=user_id, expected=list(expected),
                                          own_package=None if established else self.pending.get(user_id))
            except mls.InvalidMls as exc:
                self.events.append(Event("refused", user_id, str(exc), self.epoch))
                log.info("refused commit from %s: %s", user_id, exc)
                return
            await self._accept(user_id, info, list(expected))

    async def _accept(self, committer: int, info: mls.CommitInfo, proposals: list[mls.Proposal]) -> None:
        readded = {p.user_id for p in proposals if p.kind == "add"}
        removed = {p.user_id for p in proposals if p.kind == "remove"} - readded
        before = set(self.group.members) if self.group.established else {committer}
        creator = None if self.group.established else self.pending[committer]
        added = self.group.apply(proposals, creator=creator)
        for user_id in added + ([committer] if creator else []):
            self.pending.pop(user_id, None)
        self.proposed.clear()
        self.epoch_proposals = []
        announce = [u for u in before if u not in removed and u not in readded and u in self.members]
        transition = self._new_transition(self.version, {u for u in self.group.members if u in self.members})
        self.events.append(Event("commit", committer, f"added {added}, removed {sorted(removed)}", self.epoch,
                                 transition.id))
        header = transition.id.to_bytes(2, "big")
        for user_id in announce:
            await self.members[user_id].send_binary(29, header + self._maybe_spoil(user_id, info.commit))
        for user_id in added:
            if user_id in self.members:
                welcome = mls.welcome_for(info.welcome or b"", self.group.packages[user_id].ref)
                await self.members[user_id].send_binary(30, header + self._maybe_spoil(user_id, welcome))
        for user_id, package in list(self.pending.items()):  # key packages the commit did not cover yet
            if user_id in self.members and user_id not in self.group.members:
                await self._broadcast_proposals([self.sender.add(self.group.group_id, self.epoch, package)])

    def _maybe_spoil(self, user_id: int, payload: bytes) -> bytes:
        if self.spoil.get(user_id, 0) <= 0:
            return payload
        self.spoil[user_id] -= 1
        self.events.append(Event("spoiled", user_id, "", self.epoch))
        damaged = bytearray(payload)
        damaged[len(damaged) // 2] ^= 0xFF
        return bytes(damaged)

    # ------------------------------------------------------------------ transitions
    async def ready(self, user_id: int, transition_id: int) -> None:
        async with self._lock:
            transition = self.transitions.get(transition_id)
            if transition is None:
                return
            transition.waiting.discard(user_id)
            if not transition.waiting:
                await self._execute(transition)

    async def invalid(self, user_id: int, transition_id: int) -> None:
        """Op 31: the member could not process a commit or welcome; it is re-added with its next key package."""
        async with self._lock:
            self.events.append(Event("invalid", user_id, "", self.epoch, transition_id))
            transition = self.transitions.get(transition_id)
            if transition is not None:
                transition.waiting.discard(user_id)
                if not transition.waiting:
                    await self._execute(transition)
            if self.group.leaf_of(user_id) is not None:
                self.flagged.add(user_id)

    async def _expire(self, transition: Transition) -> None:
        await asyncio.sleep(self.transition_timeout)
        async with self._lock:
            if transition.id in self.transitions:
                self.events.append(Event("timeout", 0, f"waiting for {sorted(transition.waiting)}",
                                         transition.epoch, transition.id))
                await self._execute(transition)

    async def _execute(self, transition: Transition) -> None:
        self.transitions.pop(transition.id, None)
        transition.executed = time.monotonic()
        self.executed.append(transition)
        self.events.append(Event("execute", 0, f"version {transition.version}", transition.epoch, transition.id))
        targets = [m for m in self.members.values() if m.dave]
        for member in targets:
            await member.send_json(22, {"transition_id": transition.id})
