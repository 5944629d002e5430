"""The plugin's hooks: settings, tables, start-up (listening guilds and opt-outs loaded), shutdown,
and a user's data (``mydata export|delete``: their conversation records and kept recordings)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from framework import hookimpl
from framework import sql as sa
from framework.settings import Settings as SettingsModel
from framework.storage import as_record
from plugins.voice_listen.consent import PLUGIN, listening
from plugins.voice_listen.schema import MIGRATIONS, Settings, optouts, transcripts

if TYPE_CHECKING:  # pragma: no cover
    from framework.hookspecs import RegisterMigration
    from framework.host import Host


@hookimpl
def settings_model() -> type[SettingsModel]:
    return Settings


@hookimpl
def register_migrations(register: RegisterMigration) -> None:
    for migration in MIGRATIONS:
        register(migration)


@hookimpl
async def startup(app: Host) -> None:
    await listening(app).load()


@hookimpl
def shutdown(app: Host) -> None:
    state = app.drop_state(PLUGIN)
    if state is not None and hasattr(state, "close"):
        state.close()


@hookimpl
async def export_user_data(app: Host, user_id: int) -> dict[str, list[dict[str, Any]]]:
    async with app.storage.connect() as conn:
        heard = (await conn.execute(sa.select(transcripts).where(transcripts.c.user_id == int(user_id))
                                    .order_by(transcripts.c.id))).all()
        opted = (await conn.execute(sa.select(optouts).where(optouts.c.user_id == int(user_id)))).all()
    return {"voice_transcripts": [as_record(r) for r in heard], "voice_listen_optouts": [as_record(r) for r in opted]}


@hookimpl
async def delete_user_data(app: Host, user_id: int) -> int:
    """Their conversation records and kept recordings. An opt-out stays: deleting it would make
    the bot listen to someone who asked it not to."""
    async with app.storage.begin() as conn:
        paths = [r.audio_path for r in await conn.execute(sa.select(transcripts.c.audio_path).where(
            (transcripts.c.user_id == int(user_id)) & transcripts.c.audio_path.is_not(None)))]
        removed = (await conn.execute(transcripts.delete().where(transcripts.c.user_id == int(user_id)))).rowcount
    for path in paths:
        target = app.data_root.resolve(path, must_exist=False)
        await app.run_blocking(target.unlink, missing_ok=True)
    return int(removed)
