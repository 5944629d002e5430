"""DAVE, Discord's end-to-end encryption for voice, on top of ``davey`` (an MLS implementation
of the DAVE protocol, https://daveprotocol.com): the signalling over the voice websocket and the
per-frame encryption of Opus before transport encryption.

Signalling (server -> client binary frames are ``seq(2) op(1) payload``; client -> server binary
frames are ``op(1) payload``):
  21 prepare transition, 22 execute transition, 24 prepare epoch (JSON, from the server)
  23 transition ready, 31 invalid commit/welcome (JSON, from us)
  25 external sender, 27 proposals, 29 announce commit, 30 welcome (binary, from the server)
  26 key package, 28 commit + welcome (binary, from us)
While the call is end-to-end encrypted (protocol version > 0) but our MLS group is not ready yet
(joining, or re-joining after an invalid commit), frames are withheld rather than sent in the
clear, as libdave's Encryptor does without a key ratchet; the player waits for the group before a
clip starts. Only at protocol version 0 (a downgraded call) do frames go out unencrypted.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from framework.voice_native.codec import SILENCE_FRAME

log = logging.getLogger(__name__)

try:  # an optional wheel: without it the backend offers no DAVE (and Discord refuses the call)
    import davey
except ImportError:  # pragma: no cover - davey is a dependency; this keeps the backend importable
    davey = None  # type: ignore[assignment]

PREPARE_TRANSITION, EXECUTE_TRANSITION, TRANSITION_READY, PREPARE_EPOCH = 21, 22, 23, 24
EXTERNAL_SENDER, KEY_PACKAGE, PROPOSALS, COMMIT_WELCOME = 25, 26, 27, 28
ANNOUNCE_COMMIT, WELCOME, INVALID_COMMIT_WELCOME = 29, 30, 31
CLIENTS_CONNECT, CLIENT_DISCONNECT = 11, 13
JSON_OPS = {CLIENTS_CONNECT, CLIENT_DISCONNECT, PREPARE_TRANSITION, EXECUTE_TRANSITION, PREPARE_EPOCH}


def max_version(enabled: bool) -> int:
    """What IDENTIFY offers: davey's protocol version, or 0 when DAVE is off or unavailable."""
    return int(davey.DAVE_PROTOCOL_VERSION) if enabled and davey is not None else 0


class Dave:
    """The DAVE state of one voice session."""

    def __init__(self, user_id: int, channel_id: int, *, send_json: Callable[[int, Any], Awaitable[None]],
                 send_binary: Callable[[bytes], Awaitable[None]]) -> None:
        self.user_id = user_id
        self.channel_id = channel_id
        self._send_json = send_json
        self._send_binary = send_binary
        self.protocol_version = 0
        self.session: Any = None
        self.pending: dict[int, int] = {}
        """Transition id -> the protocol version it switches to."""
        self.users: set[int] = set()
        """Other users in the call (CLIENTS_CONNECT / CLIENT_DISCONNECT)."""
        self.external_sender: bytes | None = None
        """The gateway's external sender package (op 25), kept: it may arrive before our session
        exists, and every new session (re-init, new epoch) needs it again."""
        self.withheld = 0
        """Frames not sent because the call is E2EE and our group was not ready."""
        self._ready_changed = asyncio.Event()

    @property
    def ready(self) -> bool:
        return bool(self.protocol_version and self.session is not None and self.session.ready)

    @property
    def e2ee_required(self) -> bool:
        """The call runs DAVE (version > 0): media must be end-to-end encrypted."""
        return bool(self.protocol_version) and davey is not None

    def encrypt(self, opus: bytes) -> bytes | None:
        """One Opus frame as it may go out: end-to-end encrypted once the group is ready; as is
        in a transport-only call and for the Opus silence frame (the protocol lets it through);
        None (withheld) while an E2EE call has no group for us yet."""
        if opus == SILENCE_FRAME or not self.e2ee_required:
            return opus
        if not self.ready:
            self.withheld += 1
            return None
        encrypted: bytes | None = self.session.encrypt_opus(opus)
        return encrypted

    async def wait_ready(self, timeout: float) -> bool:
        """Wait (up to ``timeout``) until frames can be sent: the group is ready, or the call is
        transport-only. False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.e2ee_required and not self.ready:
            self._ready_changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._ready_changed.wait(), remaining)
            except TimeoutError:
                return False
        return True

    def _changed(self) -> None:
        self._ready_changed.set()

    def privacy_code(self) -> str | None:
        """The voice privacy code Discord clients show for the call: the current epoch
        authenticator as 30 digits (daveprotocol.com, "Displayable Codes"); None without a group."""
        if not self.ready:
            return None
        authenticator = self.session.get_epoch_authenticator()
        return davey.generate_displayable_code(authenticator, 30, 5) if authenticator else None

    def verification_code(self, user_id: int) -> str | None:
        """The 45-digit pairwise verification code with ``user_id`` (scrypt: blocking, ~0.1 s)."""
        if not self.ready or user_id == self.user_id:
            return None
        try:
            code: str | None = self.session.get_verification_code(int(user_id))
            return code
        except Exception:
            return None

    async def start(self, version: int) -> None:
        """SESSION_DESCRIPTION announced ``dave_protocol_version``."""
        self.protocol_version = version
        await self._reinit()

    async def _reinit(self) -> None:
        if self.protocol_version > 0 and davey is not None:
            if self.session is None:
                self.session = davey.DaveSession(self.protocol_version, self.user_id, self.channel_id)
            else:
                self.session.reinit(self.protocol_version, self.user_id, self.channel_id)
            if self.external_sender is not None:
                self.session.set_external_sender(self.external_sender)
            await self._send_binary(bytes([KEY_PACKAGE]) + self.session.get_serialized_key_package())
        elif self.session is not None:
            self.session.reset()
            self.session.set_passthrough_mode(True, 10)
        self._changed()

    async def on_json(self, op: int, data: dict[str, Any]) -> None:
        if op == CLIENTS_CONNECT:
            self.users.update(int(u) for u in data.get("user_ids", []))
        elif op == CLIENT_DISCONNECT:
            self.users.discard(int(data.get("user_id", 0)))
        elif op == PREPARE_TRANSITION:
            transition = int(data.get("transition_id", 0))
            self.pending[transition] = int(data.get("protocol_version", 0))
            if transition == 0:
                self._execute(0)
            else:
                await self._ready(transition)
        elif op == EXECUTE_TRANSITION:
            self._execute(int(data.get("transition_id", 0)))
        elif op == PREPARE_EPOCH and int(data.get("epoch", 0)) == 1:
            self.protocol_version = int(data.get("protocol_version", self.protocol_version))
            await self._reinit()

    async def on_binary(self, frame: bytes) -> None:
        if len(frame) < 3:
            return
        op, payload = frame[2], frame[3:]
        if op == EXTERNAL_SENDER:
            self.external_sender = payload
        if self.session is None:
            return
        try:
            if op == EXTERNAL_SENDER:
                self.session.set_external_sender(payload)
            elif op == PROPOSALS:
                kind = davey.ProposalsOperationType.append if payload[0] == 0 else davey.ProposalsOperationType.revoke
                expected = [self.user_id, *self.users] if self.users else None  # known only after op 11
                result = self.session.process_proposals(kind, payload[1:], expected)
                if result is not None:
                    await self._send_binary(bytes([COMMIT_WELCOME]) + result.commit + (result.welcome or b""))
            elif op in (ANNOUNCE_COMMIT, WELCOME):
                await self._transition_message(op, payload)
        except Exception:
            log.exception("DAVE op %s could not be processed", op)

    async def _transition_message(self, op: int, payload: bytes) -> None:
        transition = struct.unpack_from(">H", payload)[0]
        try:
            if op == ANNOUNCE_COMMIT:
                self.session.process_commit(payload[2:])
            else:
                self.session.process_welcome(payload[2:])
        except Exception as exc:
            log.warning("DAVE %s for transition %s is invalid: %s", "commit" if op == ANNOUNCE_COMMIT else "welcome",
                        transition, exc)
            await self._send_json(INVALID_COMMIT_WELCOME, {"transition_id": transition})
            await self._reinit()
            return
        self._changed()
        if transition == 0:
            return
        self.pending[transition] = self.protocol_version
        await self._ready(transition)

    async def _ready(self, transition: int) -> None:
        await self._send_json(TRANSITION_READY, {"transition_id": transition})

    def _execute(self, transition: int) -> None:
        version = self.pending.pop(transition, None)
        if version is None:
            return
        if version == 0 and self.session is not None:
            self.session.set_passthrough_mode(True, 120)
        self.protocol_version = version
        self._changed()
