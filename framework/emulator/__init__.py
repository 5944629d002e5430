"""Local stand-ins for Discord's servers, used by tests and by the sandbox: the voice server's
DAVE parts (an MLS external sender and group observer), an independent media checker, and a
simulated call member running Discord's own libdave.

Nothing here imports ``framework.voice_native``: what checks the bot must not share its code.
Test-only packages (``dave-py``, ``rfc9420``) are imported lazily, so the sandbox starts without them.
"""
