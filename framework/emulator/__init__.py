"""Local stand-ins for Discord's servers, used by tests and by the sandbox (``trainerbot sandbox``),
which run the real bot against them over real sockets on 127.0.0.1.

The Discord emulator: the part of the REST API v10 and the gateway that a hikari bot and a
lightbulb 3 client use, served by aiohttp.

    emu = DiscordEmulator(); await emu.start()
    bot = hikari.GatewayBot(emu.token, rest_url=emu.rest_url)      # the real bot connects to it
    guild = emu.create_guild("Test"); text = emu.create_channel(guild, "general")
    alice = emu.create_user("alice"); emu.add_member(guild, alice)
    sent = await emu.send_message(text, alice, "!hi")
    reply = await emu.wait_for_message(channel=text, predicate=lambda m: int(m.id) > int(sent.id))

It records what the bot sent (content, embeds, files, ephemeral flag, edits), answers interaction
callbacks, serves attachments, and injects faults: a dropped gateway socket, 429s and 5xx.
Unknown routes answer 404 and are listed in ``unhandled_requests``.

Where things are: ``emulator`` (the facade: start/stop, building the world, faults), ``actions``
(what users do: messages, reactions, voice, slash commands, modals), ``world`` (the records,
ids, payloads, waiting), ``state`` (the record types), ``gateway`` (the websocket), ``rest``
(routing, faults, request log) with one ``api_*`` module per part of the REST API and ``wire``
(request bodies, replies).

The voice side: ``voice_server`` (the voice websocket and UDP), its DAVE parts (``dave_gateway``,
``mls_gateway``: an MLS external sender and group observer), an independent media checker
(``media``), and a simulated call member running Discord's own libdave (``libdave_member``).
Nothing here imports ``framework.voice_native``: what checks the bot must not share its code.
Test-only packages (``dave-py``, ``rfc9420``) are imported lazily, so the sandbox starts without them.
"""

from framework.emulator.emulator import DiscordEmulator
from framework.emulator.state import (
    Attachment,
    Channel,
    FileSpec,
    Guild,
    Interaction,
    Member,
    Message,
    RecordedRequest,
    Role,
    SentMessage,
    User,
    make_token,
)

__all__ = ["DiscordEmulator", "make_token", "Message", "SentMessage", "Interaction", "FileSpec", "User",
           "Guild", "Channel", "Role", "Member", "Attachment", "RecordedRequest"]
