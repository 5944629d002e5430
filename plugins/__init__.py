"""Built-in plugins. Each is a module registered exactly like a third-party plugin (through the
hooks in ``framework.hookspecs``); this list is what the host loads before entry points."""

BUILTIN_PLUGINS: tuple[str, ...] = (
    "plugins.core",
    "plugins.files",
    "plugins.archive",
    "plugins.speech_vosk",
    "plugins.speech_whisper",
    "plugins.speech_pocketsphinx",
    "plugins.speech_pyttsx3",
    "plugins.voice_messages",
    "plugins.voice_native",
    "plugins.voice",
    "plugins.training",
    "plugins.provider_local",
    "plugins.provider_openai",
    "plugins.chat",
    "plugins.evaluation",
    "plugins.corrections",
    "plugins.feedback",
    "plugins.privacy",
)
