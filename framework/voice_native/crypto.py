"""Transport encryption of voice packets: the two AEAD ``*_rtpsize`` modes Discord accepts.

The RTP header is the associated data; the payload is sealed; a 32-bit counter, incremented for
every packet, is the nonce (zero-padded to 12 bytes for AES-GCM, 24 for XChaCha20) and travels
as 4 bytes after the ciphertext. Never reuse a nonce with the same key (hikari-wave 0.7.0a1 did).
"""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)

AES_GCM = "aead_aes256_gcm_rtpsize"
XCHACHA = "aead_xchacha20_poly1305_rtpsize"
MODES = (AES_GCM, XCHACHA)
"""In order of preference (Discord prefers AES-GCM where the hardware has it)."""


class UnsupportedMode(ValueError):
    """The voice server offered none of the modes we implement."""


def choose_mode(offered: list[str]) -> str:
    for mode in MODES:
        if mode in offered:
            return mode
    raise UnsupportedMode(f"the voice server offers no supported encryption mode (offered: {', '.join(offered)})")


class TransportCipher:
    """Seals and opens packets in one mode with one session key."""

    def __init__(self, mode: str, key: bytes) -> None:
        if mode not in MODES:
            raise UnsupportedMode(f"unsupported encryption mode {mode!r}")
        if len(key) != 32:
            raise ValueError("the session key must be 32 bytes")
        self.mode = mode
        self._key = key
        self._aes = AESGCM(key) if mode == AES_GCM else None
        self._nonce_size = 12 if mode == AES_GCM else 24

    def _nonce(self, counter: int) -> bytes:
        return struct.pack(">I", counter) + bytes(self._nonce_size - 4)

    def seal(self, header: bytes, payload: bytes, counter: int) -> bytes:
        """``header + ciphertext + tag + counter`` for the wire."""
        nonce = self._nonce(counter)
        if self._aes is not None:
            sealed = self._aes.encrypt(nonce, payload, header)
        else:
            sealed = crypto_aead_xchacha20poly1305_ietf_encrypt(payload, header, nonce, self._key)
        return header + sealed + nonce[:4]

    def open(self, header: bytes, body: bytes) -> tuple[bytes, int]:
        """The payload and the counter of a received packet body (after the header); raises on forgery."""
        sealed, tail = body[:-4], body[-4:]
        nonce = tail + bytes(self._nonce_size - 4)
        if self._aes is not None:
            payload = self._aes.decrypt(nonce, sealed, header)
        else:
            payload = crypto_aead_xchacha20poly1305_ietf_decrypt(sealed, header, nonce, self._key)
        return payload, struct.unpack(">I", tail)[0]
