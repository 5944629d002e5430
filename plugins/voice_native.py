"""The ``native`` voice backend (``[engines] voice = "native"``): our own voice gateway, UDP,
AEAD transport encryption, DAVE signalling through ``davey`` and Opus via ffmpeg — see
``framework.voice_native`` (and README: what of DAVE is verified and what is not)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework import hookimpl
from framework.settings import Field
from framework.settings import Settings as SettingsModel
from framework.voice_native import NativeBackend

if TYPE_CHECKING:  # pragma: no cover
    from framework.hookspecs import RegisterEngine
    from framework.host import Host



class Settings(SettingsModel):
    connect_timeout: float = Field(10.0, gt=0, le=120)
    """Seconds to wait for Discord's voice events and for the voice server's handshake."""
    bitrate: int = Field(64_000, ge=8_000, le=512_000)
    """Opus bitrate in bits per second."""
    dave: bool = True
    """Offer DAVE end-to-end encryption (Discord requires it since 2026-03-01)."""
    max_queue: int = Field(20, ge=1, le=1000)
    """Clips that may wait behind the one playing; ``say`` beyond that is refused."""


@hookimpl
def settings_model() -> type[SettingsModel]:
    return Settings


@hookimpl
def register_voice_backends(register: RegisterEngine, app: Host) -> None:
    settings: Settings = app.settings("voice_native") or Settings()
    backend = NativeBackend(app, connect_timeout=settings.connect_timeout, bitrate=settings.bitrate,
                            dave=settings.dave, max_queue=settings.max_queue)
    app.state("voice_native").backend = backend
    register("native", backend)


@hookimpl
async def shutdown(app: Host) -> None:
    backend = getattr(app.drop_state("voice_native"), "backend", None)
    if backend is not None:
        await backend.close()
