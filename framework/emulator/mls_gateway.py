"""The MLS side of a DAVE voice gateway, as Discord's voice server plays it (daveprotocol.com,
"Delivery Service"): an **external sender** that signs add/remove proposals for the group, and a
**group observer** that keeps what the gateway knows — group id, epoch, ciphersuite, and which
user sits at which leaf — and inspects commits before they are broadcast.

Built on ``rfc9420`` (pure-Python MLS, RFC 9420), a test-only dependency imported lazily here so
that the sandbox's voice server starts without it. The observer cannot verify a commit's
signature (a member's signature covers the GroupContext, whose tree and transcript hashes only
members know); like Discord's gateway it checks the public structure instead ("Voice Gateway
Commit Validity").
"""

from __future__ import annotations

import dataclasses
from typing import Any

CIPHERSUITE = 2
"""DAVE protocol version 1: MLS_128_DHKEMP256_AES128GCM_SHA256_P256."""
MAX_LIFETIME = (0, 2**64 - 1)
"""The gateway requires key packages valid for the whole representable time span."""


class InvalidMls(ValueError):
    """A key package or commit the gateway refuses (the message says why)."""


def _rfc9420() -> Any:
    try:
        import rfc9420
    except ImportError as exc:  # the caller decides: tests skip, the sandbox runs without MLS
        raise RuntimeError("the rfc9420 package (a test dependency) is needed for the DAVE external sender") from exc
    return rfc9420


def available() -> bool:
    """Whether the MLS pieces can run here (``rfc9420`` imports)."""
    try:
        _rfc9420()
    except RuntimeError:
        return False
    return True


def user_identity(user_id: int) -> bytes:
    """A member's basic-credential identity: the big-endian 64-bit snowflake."""
    return int(user_id).to_bytes(8, "big")


def group_id(channel_id: int) -> bytes:
    """The MLS group id of a call: the channel id, 8 bytes big-endian."""
    return int(channel_id).to_bytes(8, "big")


@dataclasses.dataclass(frozen=True)
class KeyPackageInfo:
    user_id: int
    raw: bytes
    ref: bytes
    """KeyPackageRef: how a Welcome names the joiner its secrets are for."""
    signature_key: bytes
    credential: bytes


@dataclasses.dataclass(frozen=True)
class Proposal:
    kind: str
    """``add`` or ``remove``."""
    user_id: int
    message: bytes
    """The serialized MLSMessage (PublicMessage, external sender)."""
    ref: bytes
    key_package: KeyPackageInfo | None = None
    leaf: int | None = None


@dataclasses.dataclass(frozen=True)
class CommitInfo:
    commit: bytes
    welcome: bytes | None
    committer_leaf: int
    epoch: int


class ExternalSender:
    """The gateway's signing identity in the group (one ECDSA P-256 key per voice server)."""

    def __init__(self, name: bytes = b"trainerbot-voice-gateway") -> None:
        rfc = _rfc9420()
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from rfc9420.codec.tls import write_opaque_varint, write_uint16

        self._crypto = rfc.DefaultCryptoProvider(CIPHERSUITE)
        key = ec.generate_private_key(ec.SECP256R1())
        self._private = key.private_numbers().private_value.to_bytes(32, "big")
        self.public_key = key.public_key().public_bytes(serialization.Encoding.X962,
                                                        serialization.PublicFormat.UncompressedPoint)
        self.package = write_opaque_varint(self.public_key) + write_uint16(1) + write_opaque_varint(name)
        """The ExternalSender struct sent in op 25 (signature key, basic credential)."""

    # ------------------------------------------------------------------ key packages
    def key_package(self, raw: bytes, user_id: int) -> KeyPackageInfo:
        """Validate a member's key package as the gateway must before proposing it."""
        from rfc9420.messages.key_packages import KeyPackage
        from rfc9420.messages.refs import make_key_package_ref

        try:
            package = KeyPackage.deserialize(raw)
        except Exception as exc:
            raise InvalidMls(f"unparsable key package: {exc}") from exc
        if package.serialize() != raw:
            raise InvalidMls("key package has trailing or non-canonical bytes")
        suite = int.from_bytes(raw[2:4], "big")
        if int(package.version) != 1 or suite != CIPHERSUITE:
            raise InvalidMls(f"key package for MLS {int(package.version)} ciphersuite {suite}, "
                             f"expected 1/{CIPHERSUITE}")
        leaf = package.leaf_node
        if leaf is None or leaf.credential is None:
            raise InvalidMls("key package has no leaf node credential")
        credential = leaf.credential
        if int(credential.credential_type) != 1:
            raise InvalidMls("key package credential is not a basic credential")
        if credential.identity != user_identity(user_id):
            raise InvalidMls(f"key package identity {credential.identity.hex()} is not user {user_id}")
        if (leaf.lifetime_not_before, leaf.lifetime_not_after) != MAX_LIFETIME:
            raise InvalidMls("key package lifetime is not the maximum span")
        try:
            package.verify(self._crypto)
        except Exception as exc:
            raise InvalidMls(f"key package signature does not verify: {exc}") from exc
        return KeyPackageInfo(user_id, raw, make_key_package_ref(self._crypto, raw), bytes(leaf.signature_key),
                              credential.identity)

    # ------------------------------------------------------------------ proposals
    def _sign(self, gid: bytes, epoch: int, proposal: bytes) -> tuple[bytes, bytes]:
        rfc = _rfc9420()
        from rfc9420.messages.messages import ContentType, MLSMessage, sign_authenticated_content
        from rfc9420.messages.refs import make_proposal_ref

        plaintext = sign_authenticated_content(gid, epoch, 0, b"", ContentType.PROPOSAL, proposal, self._private,
                                               self._crypto, sender_type=rfc.SenderType.EXTERNAL)
        content = plaintext.auth_content
        ref = make_proposal_ref(self._crypto, content.serialize_authenticated_content())
        return MLSMessage.from_public_message(content).serialize(), ref

    def add(self, gid: bytes, epoch: int, package: KeyPackageInfo) -> Proposal:
        from rfc9420.messages.data_structures import AddProposal

        message, ref = self._sign(gid, epoch, AddProposal(package.raw).serialize())
        return Proposal("add", package.user_id, message, ref, key_package=package)

    def remove(self, gid: bytes, epoch: int, leaf: int, user_id: int) -> Proposal:
        from rfc9420.messages.data_structures import RemoveProposal

        message, ref = self._sign(gid, epoch, RemoveProposal(leaf).serialize())
        return Proposal("remove", user_id, message, ref, leaf=leaf)


def proposals_message(proposals: list[Proposal]) -> bytes:
    """The op 27 payload for appending: ``operation_type(0)`` + ``MLSMessage proposal_messages<V>``."""
    from rfc9420.codec.tls import write_varint

    body = b"".join(p.message for p in proposals)
    return b"\x00" + write_varint(len(body)) + body


def revoke_message(refs: list[bytes]) -> bytes:
    """The op 27 payload for revoking: ``operation_type(1)`` + ``ProposalRef proposal_refs<V>``."""
    from rfc9420.codec.tls import write_opaque_varint, write_varint

    body = b"".join(write_opaque_varint(r) for r in refs)
    return b"\x01" + write_varint(len(body)) + body


def split_commit_welcome(data: bytes) -> tuple[bytes, bytes | None]:
    """Op 28's payload -> (the commit MLSMessage, the Welcome that follows it, if any)."""
    from rfc9420.codec.tls import read_opaque_varint
    from rfc9420.messages.messages import FramedContent, FramedContentAuthData

    try:
        content = FramedContent.deserialize(data[4:])
        offset = 4 + len(content.serialize())
        _auth, used = FramedContentAuthData.deserialize(data[offset:], content.content_type)
        offset += used
        _tag, offset = read_opaque_varint(data, offset)  # member senders carry a membership tag
    except Exception as exc:
        raise InvalidMls(f"unparsable commit: {exc}") from exc
    return data[:offset], (data[offset:] or None)


def welcome_for(welcome: bytes, ref: bytes) -> bytes:
    """The subset of a Welcome a single joiner needs (only the secrets encrypted for it)."""
    from rfc9420.messages.data_structures import Welcome

    parsed = Welcome.deserialize(welcome)
    for single in parsed.split_by_joiner():
        if single.secrets[0].new_member == ref:
            return single.serialize()
    raise InvalidMls("the welcome has no secrets for that key package")


class GroupView:
    """What the gateway knows of one call's MLS group: id, epoch, and who sits at which leaf.
    Epoch 0 means "not established": every member has only its own pending one-member group."""

    def __init__(self, channel_id: int) -> None:
        self.group_id = group_id(channel_id)
        self.epoch = 0
        self.leaves: list[int | None] = []
        """User id per leaf index (None: a blank leaf left by a removal)."""
        self.packages: dict[int, KeyPackageInfo] = {}
        """The key package each member joined with (its leaf's signature key and credential)."""

    @property
    def established(self) -> bool:
        return self.epoch > 0

    @property
    def members(self) -> list[int]:
        return [u for u in self.leaves if u is not None]

    def leaf_of(self, user_id: int) -> int | None:
        return self.leaves.index(user_id) if user_id in self.leaves else None

    def reset(self) -> None:
        self.epoch, self.leaves, self.packages = 0, [], {}

    def inspect(self, data: bytes, *, committer: int, expected: list[Proposal],
                own_package: KeyPackageInfo | None = None) -> CommitInfo:
        """Check a member's commit (op 28) against what the gateway proposed to it; raises
        :class:`InvalidMls` with the reason for a commit the gateway must not broadcast."""
        from rfc9420.messages.data_structures import Commit, ProposalOrRefType, Welcome
        from rfc9420.messages.key_packages import LeafNode
        from rfc9420.messages.messages import ContentType, MLSMessage, WireFormat

        commit_bytes, welcome = split_commit_welcome(data)
        message = MLSMessage.deserialize(commit_bytes)
        if int(message.version) != 1 or message.wire_format != WireFormat.PUBLIC_MESSAGE:
            raise InvalidMls("a commit must be an MLS 1.0 PublicMessage")
        parsed_content = message.get_parsed_content()
        if not hasattr(parsed_content, "tbs"):
            raise InvalidMls("a commit must be an authenticated public message")
        content = parsed_content.tbs.framed_content
        if content.group_id != self.group_id:
            raise InvalidMls(f"commit for group {content.group_id.hex()}, expected {self.group_id.hex()}")
        if content.epoch != self.epoch:
            raise InvalidMls(f"commit for epoch {content.epoch}, the group is at epoch {self.epoch}")
        if content.content_type != ContentType.COMMIT or int(content.sender.sender_type) != 1:
            raise InvalidMls("not a commit from a member")
        leaf = int(content.sender.sender)
        if self.established:
            if self.leaf_of(committer) != leaf:
                raise InvalidMls(f"commit signed as leaf {leaf}, but user {committer} is at {self.leaf_of(committer)}")
            known = self.packages[committer]
        else:
            if leaf != 0 or own_package is None:
                raise InvalidMls("a commit creating the group must come from leaf 0 of a pending member")
            known = own_package
        commit = Commit.deserialize(content.content)
        refs = []
        for item in commit.proposals:
            if item.typ != ProposalOrRefType.REFERENCE:
                raise InvalidMls("a commit may only reference the gateway's proposals, not include its own")
            refs.append(item.reference)
        if not refs:
            raise InvalidMls("a commit must reference at least one proposal")
        if sorted(r or b"" for r in refs) != sorted(p.ref for p in expected):
            raise InvalidMls("the commit does not reference exactly the proposals broadcast in this epoch")
        if commit.path is not None:
            path_leaf = LeafNode.deserialize(commit.path.leaf_node)
            if bytes(path_leaf.signature_key) != known.signature_key or path_leaf.credential is None or \
                    path_leaf.credential.identity != known.credential:
                raise InvalidMls("the commit changes its sender's credential or signature key")
        adds = [p for p in expected if p.kind == "add"]
        if adds and welcome is None:
            raise InvalidMls("a commit adding members must come with a welcome")
        if welcome is not None:
            try:
                parsed = Welcome.deserialize(welcome)
            except Exception as exc:
                raise InvalidMls(f"unparsable welcome: {exc}") from exc
            if int.from_bytes(welcome[:2], "big") != CIPHERSUITE:
                raise InvalidMls("welcome for another ciphersuite")
            if sorted(s.new_member for s in parsed.secrets) != sorted(p.key_package.ref for p in adds
                                                                      if p.key_package is not None):
                raise InvalidMls("the welcome is not for exactly the members the commit adds")
        return CommitInfo(commit_bytes, welcome, leaf, self.epoch)

    def apply(self, proposals: list[Proposal], *, creator: KeyPackageInfo | None = None) -> list[int]:
        """Move to the next epoch as the accepted commit does (RFC 9420 §12.3: removes, then adds
        into the leftmost blank leaf); returns the user ids added."""
        if not self.established:
            assert creator is not None, "the first commit comes from a pending member's own group"
            self.leaves, self.packages = [creator.user_id], {creator.user_id: creator}
        for proposal in proposals:
            if proposal.kind == "remove" and proposal.leaf is not None and proposal.leaf < len(self.leaves):
                self.packages.pop(self.leaves[proposal.leaf] or 0, None)
                self.leaves[proposal.leaf] = None
        while self.leaves and self.leaves[-1] is None:
            self.leaves.pop()
        added = []
        for proposal in proposals:
            if proposal.kind == "add" and proposal.key_package is not None:
                blank = self.leaves.index(None) if None in self.leaves else len(self.leaves)
                if blank == len(self.leaves):
                    self.leaves.append(None)
                self.leaves[blank] = proposal.user_id
                self.packages[proposal.user_id] = proposal.key_package
                added.append(proposal.user_id)
        self.epoch += 1
        return added
