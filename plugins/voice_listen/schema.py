"""Settings and tables of voice listening: which guilds turned it on, who opted out, and the
conversation records (what the bot heard and answered — never the audio, unless
``[plugins.voice] keep_audio``)."""

from __future__ import annotations

from typing import Literal

from framework import sql as sa
from framework.settings import Field
from framework.settings import Settings as SettingsModel
from framework.storage import Migration


class Settings(SettingsModel):
    mode: Literal["wake", "always"] = "wake"
    """``wake``: answer only utterances that start with a wake phrase; ``always``: every utterance."""
    wake_phrases: list[str] = []
    """Wake phrases; the bot's name is always one."""
    language: str = "ko"
    """Language heard (a speech model must be installed for it) and spoken in answers."""
    phrases: list[str] = []
    """Optional grammar: recognise only these phrases (far more reliable with small models)."""
    text_channel: int | None = None
    """Where transcripts and answers go; default: the voice channel's own text chat."""
    workers: int = Field(3, ge=1, le=32)
    """Threads recognising speech at once (speakers beyond that wait their turn)."""
    max_backlog: float = Field(10.0, gt=0, le=120)
    """Seconds of a speaker's audio that may wait for recognition; beyond that the oldest is dropped."""
    threshold_dbfs: float = Field(-45.0, le=0)
    """Audio louder than this counts as speech."""
    end_silence: float = Field(0.6, gt=0, le=10)
    """Seconds of quiet that end an utterance when the speaker's client keeps sending."""
    max_seconds: float = Field(20.0, gt=0, le=120)
    """Longest utterance; longer speech is cut into several."""
    barge_in: bool = True
    """Stop speaking when someone starts talking."""


metadata = sa.MetaData()
guilds = sa.Table(
    "voice_listen_guilds", metadata,
    sa.Column("guild_id", sa.BigInteger, primary_key=True),
    sa.Column("enabled_by", sa.BigInteger, nullable=False),
    sa.Column("enabled_at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()),
)
optouts = sa.Table(
    "voice_listen_optouts", metadata,
    sa.Column("user_id", sa.BigInteger, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()),
)
transcripts = sa.Table(
    "voice_transcripts", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("guild_id", sa.BigInteger, nullable=False),
    sa.Column("channel_id", sa.BigInteger, nullable=False),
    sa.Column("message_id", sa.BigInteger),
    sa.Column("user_id", sa.BigInteger, nullable=False, index=True),
    sa.Column("transcript", sa.Text, nullable=False),
    sa.Column("answer", sa.Text),
    sa.Column("audio_path", sa.String(500)),  # data-root relative; only with [plugins.voice] keep_audio
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.current_timestamp()),
)

MIGRATIONS = [Migration(1, "voice listening: guilds, opt-outs, transcripts", metadata.create_all)]
