"""The three bots of the peer benchmark (tests/bench/bench_peers.py), each run as its own process:
``python -m tests.bench.peers trainerbot|hikari|discordpy``. Each answers ``!hi`` with the same
reply (``PEER_GREETING`` formatted with the author's display name), as a reply without pings.

- ``trainerbot``: the whole bot, every default plugin enabled, as ``trainerbot run`` starts it (on
  uvloop, its default event loop where installed).
- ``trainerbot_asyncio``: the same on asyncio's own event loop (``[bot] event_loop = "asyncio"``),
  to show what the framework does without uvloop.
- ``hikari``: a bare hikari ``GatewayBot`` with a lightbulb client and one message listener,
  REST connections kept alive as trainerbot keeps them (so the ratio shows what the framework adds).
- ``discordpy``: discord.py's ``commands.Bot`` with a ``hi`` command, as its docs show it.

The emulator's addresses and the token come from the environment (``PEER_REST_URL``,
``PEER_GATEWAY_URL``, ``PEER_TOKEN``); over TLS the bench also sets ``SSL_CERT_FILE``. Each
program imports only its own library, so its resident memory is its own.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HELP = "!help"


def greeting(name: str) -> str:
    return os.environ["PEER_GREETING"].format(name=name, help=HELP)


def run_trainerbot(event_loop: str = "auto") -> None:
    from framework.app import App
    from framework.config import load_config

    data = Path(os.environ["PEER_DATA_ROOT"])
    config = load_config(data / "none.toml", overrides={"bot": {"data_root": str(data), "event_loop": event_loop}})
    App(config, token=os.environ["PEER_TOKEN"], rest_url=os.environ["PEER_REST_URL"]).run()


def run_hikari() -> None:
    import hikari
    import lightbulb

    bot = hikari.GatewayBot(os.environ["PEER_TOKEN"], rest_url=os.environ["PEER_REST_URL"], logs=None, banner=None,
                            suppress_optimization_warning=True,
                            http_settings=hikari.impl.HTTPSettings(force_close_transports=False),
                            intents=hikari.Intents.ALL_UNPRIVILEGED | hikari.Intents.MESSAGE_CONTENT)
    client = lightbulb.client_from_app(bot)
    bot.subscribe(hikari.StartingEvent, client.start)

    async def on_message(event: hikari.GuildMessageCreateEvent) -> None:
        if event.content == "!hi" and not event.is_bot:
            name = event.member.display_name if event.member else event.author.username
            await bot.rest.create_message(event.channel_id, greeting(name), reply=event.message,
                                          user_mentions=False, role_mentions=False, mentions_everyone=False)

    bot.subscribe(hikari.GuildMessageCreateEvent, on_message)
    bot.run()


def run_discordpy() -> None:
    import discord
    import yarl
    from discord.ext import commands

    discord.http.Route.BASE = os.environ["PEER_REST_URL"]
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["PEER_GATEWAY_URL"])
    intents = discord.Intents.default()
    intents.message_content = True
    bot = commands.Bot(command_prefix="!", intents=intents, help_command=None)

    @bot.command()
    async def hi(ctx: commands.Context[commands.Bot]) -> None:
        await ctx.reply(greeting(ctx.author.display_name), mention_author=False,
                        allowed_mentions=discord.AllowedMentions.none())

    bot.run(os.environ["PEER_TOKEN"], log_handler=None)


PEERS = {"trainerbot": run_trainerbot, "trainerbot_asyncio": lambda: run_trainerbot("asyncio"),
         "hikari": run_hikari, "discordpy": run_discordpy}

if __name__ == "__main__":
    PEERS[sys.argv[1]]()
