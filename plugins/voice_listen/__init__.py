"""Voice conversations: the bot listens in a voice channel (once someone in the ``voice``
permission group turns it on), recognises speech offline while it is spoken, and answers aloud,
with the transcript and answer posted in the channel's text chat.

The modules by concern: :mod:`.schema` (settings, tables), :mod:`.consent` (``voice listen``,
opt-outs), :mod:`.conversation` (the audio sink, utterances, answers), :mod:`.privacy` (a user's
data). The receiving itself is the voice backend's (``framework.voice.VoiceReceiver``); cutting
and recognising speech is ``framework.hearing``'s.
"""

from plugins.voice_listen.hooks import (
    delete_user_data,
    export_user_data,
    register_migrations,
    settings_model,
    shutdown,
    startup,
)

__all__ = ["delete_user_data", "export_user_data", "register_migrations", "settings_model", "shutdown", "startup"]
