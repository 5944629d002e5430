"""The ``native`` voice backend: our own voice gateway (v8), UDP with IP discovery, transport
AEAD (``aead_aes256_gcm_rtpsize`` and ``aead_xchacha20_poly1305_rtpsize``) and Opus frames from
ffmpeg, on the event loop with an absolute 20 ms schedule.

Why our own: hikari-wave 0.7.0a1 never increments the AEAD nonce, sends a 78-byte discovery
packet, builds a wrong reconnect URL, raises on ``disconnect()`` and sends unencrypted silence —
correcting those means patching its internals. songbird-py 0.1.9 speaks only the retired
xsalsa20 modes. This package is ~600 lines we can test end to end against the local voice
server (``framework.emulator.voice_server``).

DAVE (end-to-end encryption, required by Discord since 2026-03-01) runs on ``davey``: we offer
it in IDENTIFY, send MLS key packages, answer transitions, commits, welcomes and proposals, and
encrypt each Opus frame once the MLS group is ready (withheld, never sent in the clear, while an
E2EE call has no group for us). The local voice server acts as the MLS external sender, and a call
member running Discord's libdave decrypts what we send (``tests/test_voice_dave.py``).

Modules: ``ogg`` (Ogg pages <-> Opus packets), ``codec`` (ffmpeg Opus), ``crypto`` (AEAD),
``rtp`` (headers, numbering), ``dave`` (E2EE signalling), ``udp`` (socket, IP discovery), ``gateway`` (voice websocket),
``connection`` (hikari VoiceConnection + player), ``backend`` (the registered backend).
"""

from framework.voice_native.backend import NativeBackend

__all__ = ["NativeBackend"]
