"""The terminal sandbox (`trainerbot sandbox --terminal`): no input crashes or freezes it, answers
and voice reports come with their line, the world survives a restart, Ctrl-C leaves cleanly.

The sandbox runs as a user runs it (the `trainerbot` process, the real bot on the emulator); the
line parser (`framework/sandbox_input.py`) is also tested alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from framework.sandbox_input import Catalog, Control, FilePath, Menu, Problem, React, Say, Slash, parse
from tests.test_cli import TRAINERBOT, run

BOT_ID, GUEST_ID = 111, 222
CATALOG = Catalog(
    commands=[
        {"name": "hi", "type": 1, "options": [{"name": "name", "type": 3}]},
        {"name": "test", "type": 1, "options": [{"name": "attachment", "type": 11, "required": True},
                                                {"name": "limit", "type": 4}]},
        {"name": "dataset", "type": 1, "options": [{"name": "list", "type": 1, "options": []},
                                                   {"name": "show", "type": 1, "options": [
                                                       {"name": "name", "type": 3, "required": True}]}]},
        {"name": "whois", "type": 1, "options": [{"name": "who", "type": 6, "required": True}]},
        {"name": "Correct this answer", "type": 3},
    ],
    mentions={"trainerbot": BOT_ID, "guest": GUEST_ID})


def output_after_intro(stdout: str) -> list[str]:
    """The chat's lines after the introduction (which ends with the real-Discord hint)."""
    return stdout.split("run `make run` again.\n", 1)[1].splitlines()


# -- the parser alone: every line becomes an action or a one-line problem, never an exception


@pytest.mark.parametrize("line", ["/", "/ ", "!" * 3 + "/", "/test attachment:", "/test attachment:@file:",
                                  "/test", "/test limit:x attachment:a.txt", "/hi bogus:1", "/hi name",
                                  '/hi name:"unclosed', "/nope", "/dataset", "/dataset nosuch", "/dataset show",
                                  "/whois who:@nobody", ">", ">abc text", "/reply x", "/apps", "/apps nosuch 123",
                                  "/apps correct", "", "   ", "@file:", "\x00", "/" + "x" * 5000])
def test_no_line_raises_and_problems_are_one_line(line: str) -> None:
    action = parse(line, CATALOG)
    if isinstance(action, Problem):
        assert action.text and "\n" not in action.text
    else:
        assert isinstance(action, Say), (line, action)


def test_the_parser_reads_each_kind_of_line() -> None:
    assert parse("/", CATALOG) == Problem("type a command after /: /dataset, /hi, /test, /whois …")
    assert parse("/test attachment:@file:a b.txt", CATALOG) == Problem(
        "write options as name:value — /test attachment:… [limit:…]")
    assert parse('/test attachment:"@file:a b.txt" limit:3', CATALOG) == Slash(
        "test", ("test",), {"attachment": FilePath("a b.txt"), "limit": 3})
    assert parse("/test attachment:reviews.csv", CATALOG) == Slash(
        "test", ("test",), {"attachment": FilePath("reviews.csv")})
    assert parse("/test limit:2", CATALOG) == Problem("/test needs attachment — /test attachment:… [limit:…]")
    assert parse("/hi extra:1", CATALOG) == Problem("/hi has no option `extra` — /hi [name:…]")
    assert parse("/nope", CATALOG) == Problem("no slash command /nope; try /help")
    assert parse("/dataset show name:reviews", CATALOG) == Slash("dataset", ("dataset", "show"), {"name": "reviews"})
    assert parse("/whois who:@guest", CATALOG) == Slash("whois", ("whois",), {"who": GUEST_ID})
    assert parse("@trainerbot what is up, @guest? mail@example.com", CATALOG) == Say(
        f"<@{BOT_ID}> what is up, <@{GUEST_ID}>? mail@example.com")
    assert parse("!train @file:./r.txt positive=true", CATALOG) == Say("!train  positive=true", [FilePath("./r.txt")])
    assert parse(">#123456 !correct better", CATALOG) == Say("!correct better", reply_to="123456")
    assert parse("/reply ^ thanks @trainerbot", CATALOG) == Say(f"thanks <@{BOT_ID}>", reply_to="^")
    assert parse("+^ 👍", CATALOG) == React("^", "👍")
    assert parse("-987654 👎", CATALOG) == React("987654", "👎", remove=True)
    assert parse("+1 is more", CATALOG) == Say("+1 is more")
    assert parse("/apps correct 42 it is | two", CATALOG) == Menu("Correct this answer", "42", "it is | two")
    assert parse("/as guest", CATALOG) == Control("as", "guest")
    assert parse("/quit", CATALOG) == Control("quit")
    assert parse("!listen q.wav", CATALOG) == Control("listen", "q.wav")


# -- the sandbox as a user runs it


def test_no_input_crashes_the_sandbox_and_each_gets_one_line(tmp_path: Path) -> None:
    (tmp_path / "reviews.csv").write_text("great movie,1\n", "utf-8")
    (tmp_path / "script.txt").write_text("\n".join([
        "/", "!", "! hi", "/test attachment:@file:missing.txt", "/test attachment:missing.txt",
        "/test attachment:", "/hi bogus:1", "/nope", "/test attachment:@file:reviews.csv",
        "/test attachment:reviews.csv", "!plugins disable feedback", "!feedback nice bot",
        "/feedback text:nice", "!hi",
    ]) + "\n", "utf-8")
    result = run("sandbox", "--terminal", "--script", "script.txt", "--reply-wait", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = output_after_intro(result.stdout)
    assert lines[0].startswith("sandbox> type a command after /: /")
    assert lines[1:3] == ["(no reply)", "(no reply)"]
    assert lines[3:5] == ["sandbox> cannot attach missing.txt: No such file or directory"] * 2
    assert lines[5].startswith("sandbox> `attachment` needs a file")
    assert lines[6].startswith("sandbox> /hi has no option `bogus` — /hi")
    assert lines[7] == "sandbox> no slash command /nope; try /help"
    assert all(line.endswith("bot> No active model to test: train one with `/train`, then choose it with "
                             "`/model use`.") for line in lines[8:10]), "both attachment forms reach the bot"
    assert "feedback" in lines[10] and lines[10].split(" ", 1)[0].startswith("#")
    assert lines[11:13] == ["(no reply)", lines[12]]  # the prefix surface ignores a disabled plugin's command
    assert lines[12].endswith("bot (only you can see this)> `/feedback` is disabled in this server.")
    assert len(lines) == 14, lines
    assert lines[-1].endswith("bot> Hello, owner! I'm trainerbot. Type `!help` to see what I can do.")


def test_a_line_without_answer_does_not_hold_up_the_next(tmp_path: Path) -> None:
    """Typed one after the other (stdin, as at a terminal): the unanswered `!` gets "(no reply)",
    `!ping` typed meanwhile is answered next, in order."""
    result = run("sandbox", "--terminal", "--reply-wait", "0.5", cwd=tmp_path, stdin="!\n! hi\n!ping\n")
    assert result.returncode == 0, result.stderr
    lines = output_after_intro(result.stdout)
    assert lines[:2] == ["(no reply)", "(no reply)"]
    assert "bot> Pong! Gateway latency:" in lines[2]


def test_voice_reports_come_with_the_line_that_caused_them(tmp_path: Path) -> None:
    result = run("sandbox", "--terminal", "--script", "/dev/stdin", cwd=tmp_path,
                 stdin="!join\n!say hello there\n!ping\n!leave\n")
    assert result.returncode == 0, result.stderr
    lines = output_after_intro(result.stdout)
    said = next(i for i, line in enumerate(lines) if "bot> 🔊 Saying it in **Voice**." in line)
    assert lines[said + 1].startswith("voice> 🔊 ") and "Opus frames" in lines[said + 1]
    assert "Pong!" in lines[said + 2]
    assert sum("voice>" in line for line in lines) == 1, lines


def test_mentions_replies_reactions_menu_and_files(tmp_path: Path) -> None:
    script = "\n".join(["!hi", "+^ 👍", "@trainerbot hello", ">^ !correct better answer",
                        "/apps correct ^ a better answer", "/as guest", "!plugins disable feedback", "/as owner",
                        "!mydata export"])
    result = run("sandbox", "--terminal", "--script", "/dev/stdin", cwd=tmp_path, stdin=script + "\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    hello = next(line for line in out.splitlines() if "bot> Hello, owner!" in line)
    hello_id = hello.split(" ", 1)[0]
    assert f"sandbox> reacted 👍 to {hello_id}" in out
    assert "(no reply)" not in out, out
    assert out.count("is not one of my chat answers") == 2, "the reply and the menu reached the bot"
    assert "`plugins disable` is limited to the bot's owners." in out
    saved = next(line for line in out.splitlines() if "📎 mydata-" in line).split("saved: ", 1)[1]
    assert Path(saved).is_file() and Path(saved).parent == tmp_path / "data" / "sandbox" / "downloads"
    assert json.loads(Path(saved).read_text("utf-8"))
    world = json.loads((tmp_path / "data" / "sandbox" / "world.json").read_text("utf-8"))
    mention = next(m for m in world["messages"] if m["content"].endswith("> hello"))
    assert mention["content"] == f"<@{world['bot']['id']}> hello"
    reacted = next(m for m in world["messages"] if m["id"] % 1_000_000 == int(hello_id[1:]))
    assert reacted["reactions"] == [[world["owner"]["id"], "👍"]]


def test_the_world_and_the_bots_data_survive_a_restart(tmp_path: Path) -> None:
    first = run("sandbox", "--terminal", "--script", "/dev/stdin", cwd=tmp_path,
                stdin="!feedback great bot\n!chat here on\n")
    assert first.returncode == 0, first.stderr
    world_path = tmp_path / "data" / "sandbox" / "world.json"
    before = json.loads(world_path.read_text("utf-8"))
    second = run("sandbox", "--terminal", "--script", "/dev/stdin", cwd=tmp_path,
                 stdin="!mydata export\nhow are you\n")
    assert second.returncode == 0, second.stderr
    after = json.loads(world_path.read_text("utf-8"))
    assert "(restored from the last run)" in second.stdout
    assert (after["bot"], after["owner"], after["users"]) == (before["bot"], before["owner"], before["users"])
    assert after["guild"]["id"] == before["guild"]["id"]
    assert after["guild"]["channels"] == before["guild"]["channels"]
    assert {m["id"] for m in before["messages"]} < {m["id"] for m in after["messages"]}
    assert "Everything I store about you: 1 record(s) (feedback 1)." in second.stdout
    # `chat here on` survived: a plain message (no mention) is answered by the chat plugin.
    lines = output_after_intro(second.stdout)
    assert "(no reply)" not in lines and any("Sorry, I can't answer right now" in line for line in lines), lines


def test_ctrl_c_leaves_cleanly_without_enter(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "TRAINERBOT_CONFIG")}
    proc = subprocess.Popen([TRAINERBOT, "sandbox", "--terminal"], cwd=tmp_path, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("!hi\n")
        proc.stdin.flush()
        for line in proc.stdout:
            if "bot> Hello, owner!" in line:
                break
        proc.send_signal(signal.SIGINT)  # stdin stays open: nobody presses Enter
        proc.wait(timeout=60)
        out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()  # type: ignore[union-attr]
    assert proc.returncode == 130
    assert "sandbox> bye (Ctrl-C)" in out
    assert "Traceback" not in err, err
    assert (tmp_path / "data" / "sandbox" / "world.json").is_file(), "the world was saved on the way out"


# -- the session the terminal and the web sandbox build on, used directly


async def test_the_session_restores_its_world_with_the_same_ids(tmp_path: Path) -> None:
    import aiohttp

    from framework.config import load_config
    from framework.sandbox_session import SandboxSession

    config = load_config(tmp_path / "plugins.toml", overrides={"bot": {"data_root": str(tmp_path / "data")}})
    (tmp_path / "note.bin").write_bytes(b"\x00\x01 bytes")
    async with SandboxSession(config) as s:
        assert set(s.users) == {"owner", "guest"} and s.me is s.users["owner"] is s.emu.application_owner
        hello = (await s.perform(parse(f"!hi @file:{tmp_path / 'note.bin'}", s.catalog()))).sent
        assert hello is not None and hello.attachments[0].data == b"\x00\x01 bytes"
        answer = await s.emu.wait_for_message(channel=s.text, predicate=lambda m: m.reference == hello.id)
        await s.perform(parse(f"+{answer.id} 👍", s.catalog()))
        assert (await s.perform(parse("/as guest", s.catalog()))).note == "you are now guest"
        asked = (await s.perform(parse("!plugins disable feedback", s.catalog()))).sent
        assert asked is not None and asked.author is s.users["guest"]
        refusal = await s.emu.wait_for_message(channel=s.text, predicate=lambda m: m.reference == asked.id)
        assert refusal.content == "`plugins disable` is limited to the bot's owners."
        ids = (s.emu.bot_user.id, {n: u.id for n, u in s.users.items()}, s.guild.id, s.text.id, s.voice.id)
        newest = max(s.emu.messages)

    async with SandboxSession(config) as again:
        assert again.restored and again.me.username == "owner"
        assert (again.emu.bot_user.id, {n: u.id for n, u in again.users.items()}, again.guild.id, again.text.id,
                again.voice.id) == ids
        restored = again.emu.messages[hello.id]
        assert restored.author is again.users["owner"] and restored.content == "!hi"
        assert again.emu.messages[answer.id].reactions == [(ids[1]["owner"], "👍")]
        async with aiohttp.ClientSession() as http, http.get(restored.attachments[0].url) as response:
            assert await response.read() == b"\x00\x01 bytes", "the restored attachment is served again"
        reply = (await again.perform(parse(">^ !hi", again.catalog()))).sent
        assert reply is not None and reply.id > newest and reply.reference == refusal.id
        answered = await again.emu.wait_for_message(channel=again.text, predicate=lambda m: m.reference == reply.id)
        assert answered.content.startswith("Hello, owner!")


async def test_chat_by_mention_a_reaction_and_the_correct_form_in_the_terminal(tmp_path: Path, openai_server) -> None:
    """The terminal chat in-process, with a chat model (the OpenAI test server): a mention is
    answered, 👍 on the answer and the Apps › Correct form (opened, then filled with /form) are
    stored by the bot."""
    import io
    import sqlite3

    from framework.config import load_config
    from framework.sandbox import chat

    openai_server.chat_reply = "Paris is in Germany."
    (tmp_path / "plugins.toml").write_text('[engines]\nprovider = "openai"\n', "utf-8")
    config = load_config(tmp_path / "plugins.toml", overrides={"bot": {"data_root": str(tmp_path / "data")}})
    out = io.StringIO()

    def answer_id() -> str:
        return next(line for line in out.getvalue().splitlines() if "bot> Paris is in Germany." in line).split()[0]

    async def lines():
        yield "@trainerbot where is Paris?"
        yield f"+{answer_id()[1:]} 👍"
        yield f"/apps correct {answer_id()}"
        yield "/form Paris is in France."

    assert await chat(config, lines(), out, reply_wait=10) == 0
    text = out.getvalue()
    assert f"sandbox> reacted 👍 to {answer_id()}" in text
    assert "sandbox> the bot opened a form: What should I have answered? — fill it with /form TEXT" in text
    assert "bot (only you can see this)> Thanks! Correction #1 saved" in text
    with sqlite3.connect(tmp_path / "data" / "trainerbot.sqlite3") as db:
        assert db.execute("SELECT reaction FROM feedback").fetchall() == [("up",)]
        assert db.execute("SELECT correction, answer FROM corrections").fetchall() == [
            ("Paris is in France.", "Paris is in Germany.")]
