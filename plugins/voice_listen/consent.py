"""Consent: listening is off until someone in the ``voice`` permission group turns it on in a
guild (``voice listen on|off``), the call is told when the bot starts listening, and each user
can opt out everywhere (``voice listen me off``): their packets are then dropped on arrival,
before decryption or decoding. The command is a subcommand of the voice plugin's ``voice``
group; it reaches this plugin's state, and says so when this plugin is disabled."""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.commands import Context, UserError, command, string
from plugins.voice_listen.schema import guilds, optouts

if TYPE_CHECKING:  # pragma: no cover
    from framework.host import Host
    from plugins.voice_listen.conversation import Listening

PLUGIN = "voice_listen"


def listening(app: Host) -> Listening:
    from plugins.voice_listen.conversation import Listening

    return app.state(PLUGIN, lambda: Listening(app))


async def set_guild(app: Host, guild_id: int, user_id: int, on: bool) -> None:
    async with app.storage.begin() as conn:
        await conn.execute(guilds.delete().where(guilds.c.guild_id == int(guild_id)))
        if on:
            await conn.execute(guilds.insert().values(guild_id=int(guild_id), enabled_by=int(user_id)))
    state = listening(app)
    if on:
        state.guilds.add(int(guild_id))
    else:
        state.guilds.discard(int(guild_id))


async def set_optout(app: Host, user_id: int, heard: bool) -> None:
    state = listening(app)
    if not heard:
        state.optouts.add(int(user_id))  # in memory first: from this packet on, nothing of theirs is decoded
        state.forget_speaker(int(user_id))
    async with app.storage.begin() as conn:
        await conn.execute(optouts.delete().where(optouts.c.user_id == int(user_id)))
        if not heard:
            await conn.execute(optouts.insert().values(user_id=int(user_id)))
    if heard:
        state.optouts.discard(int(user_id))


@command("listen", "Listen and answer in the call (on/off), or opt yourself out (me off)", guild_only=True,
         options=[string("switch", "on, off, or me (for yourself)", choices=["on", "off", "me"]),
                  string("me", "With switch:me — on or off", default=None, choices=["on", "off"])])
async def listen(ctx: Context, switch: str, me: str | None) -> None:
    app = ctx.app
    if not app.plugins.enabled_in(PLUGIN, ctx.server_id):
        raise UserError("Listening is switched off in this bot (the `voice_listen` plugin is disabled).")
    state = listening(app)
    if switch == "me":
        if me is None:
            raise UserError(f"Say `{ctx.mention_command('voice listen')} me off` to stop being heard, "
                            "or `me on` to be heard again.")
        await set_optout(app, ctx.author.id, me == "on")
        await ctx.respond("🎙️ I'll hear you again when listening is on in a call." if me == "on" else
                          "🔇 I won't listen to you: your voice is dropped as it arrives, in every server.",
                          ephemeral=True)
        return
    await app.permissions.require(ctx, "voice")
    backend = state.backend()
    guild_id = ctx.server_id
    if switch == "off":
        await set_guild(app, guild_id, ctx.author.id, False)
        state.detach(guild_id)
        channel = state.text_channel(backend.channel_of(guild_id))
        if channel is not None and channel != int(ctx.channel_id):
            await state.post(channel, "🔇 I stopped listening in this call.")
        await ctx.respond("🔇 I stopped listening in this server's calls.")
        return
    await set_guild(app, guild_id, ctx.author.id, True)
    if not state.attach(guild_id):
        await set_guild(app, guild_id, ctx.author.id, False)
        raise UserError("The voice backend in use cannot hear others, so I can't listen.")
    voice_channel = backend.channel_of(guild_id)
    if voice_channel is None:
        await ctx.respond(f"🎙️ Listening is on in this server: I'll listen once I'm in a call "
                          f"(`{ctx.mention_command('join')}`).")
        return
    await state.announce(guild_id, voice_channel)
    await ctx.respond("🎙️ I'm listening in the call now. Anyone can opt out with "
                      f"`{ctx.mention_command('voice listen')} me off`.")
