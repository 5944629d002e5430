"""DAVE end to end: the real bot joins a call on the local voice server, which acts as the MLS
external sender (rfc9420); "Bob", a call member running Discord's own libdave (dave-py), must
decrypt and hear what the bot says. The server's transport decryption, RTP and Opus decoding
are independent of the bot's code (framework/emulator/media.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import pytest

from framework.audio import decode_pcm
from framework.emulator import media
from framework.emulator.voice_server import LocalVoiceServer
from tests.test_voice import backend, enter, similarity, voice_tb

pytestmark = pytest.mark.backends("sqlite")  # voice and speech: PostgreSQL would only double their minutes

dave = pytest.importorskip("dave", reason="dave-py (libdave bindings) has no wheel for this platform")
pytest.importorskip("rfc9420", reason="rfc9420 (the external sender's MLS) is not installed")

from framework.emulator.libdave_member import LibdaveMember  # noqa: E402

AES_GCM, XCHACHA = media.TRANSPORT_MODES


@pytest.fixture
async def dave_server() -> AsyncIterator[LocalVoiceServer]:
    server = LocalVoiceServer(offer_dave=True, heartbeat_interval_ms=500)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def call_with_bob(tb_factory, server, extra: str = ""):
    tb = await voice_tb(tb_factory, server, extra)
    tb.emu.voice_endpoint = server.endpoint_for
    await enter(tb)
    bob = LibdaveMember(tb.user.id)
    await bob.join(server, tb.guild.id, tb.voice_channel.id)
    tb.bob = bob
    return tb


async def speak(tb, server, text: str) -> bytes:
    """``/say`` and wait for the end of speech; returns the TTS WAV."""
    session = server.session_of(tb.emu.bot_user.id)
    spoken = len(session.speaking)
    assert (await tb.slash("say", {"text": text})).content.startswith("🔊")
    await tb.emu.wait_until(lambda: len(session.speaking) >= spoken + 2 and session.speaking[-1] == 0,
                            timeout=60, what="the end of speech")
    return tb.tts.spoken[-1][1]


def assert_sounds_like(reference_wav: bytes, opus_frames: list[bytes]) -> None:
    received = np.frombuffer(media.decode_opus(opus_frames), np.int16).astype(np.float64)
    reference = np.frombuffer(decode_pcm(reference_wav, rate=48_000), np.int16).astype(np.float64)
    assert abs(len(received) - len(reference)) / len(reference) <= 0.05, (len(received), len(reference))
    assert similarity(reference, received) >= 0.9


@pytest.mark.parametrize("mode", [AES_GCM, XCHACHA])
async def test_bob_on_libdave_hears_the_bot(dave_server, tb_factory, mode) -> None:
    dave_server.modes = (mode,)
    tb = await call_with_bob(tb_factory, dave_server)
    bob, bot_id = tb.bob, tb.emu.bot_user.id
    assert (await tb.slash("join")).content.startswith("🔊 Joined **Voice**.")
    call = dave_server.calls[tb.voice_channel.id]
    await tb.emu.wait_until(lambda: call.executed and bob.session.has_established_group(), what="the MLS group")
    assert call.epoch == 1 and sorted(call.group.members) == sorted([bot_id, tb.user.id])
    wav = await speak(tb, dave_server, "hello")
    session = dave_server.session_of(bot_id)
    assert session.mode == mode and session.undecryptable == 0
    assert all(p.e2ee for p in session.audio_packets)
    assert bob.failed(bot_id) == [] and bob.failures == []
    assert_sounds_like(wav, bob.heard(bot_id))


LONG = ("This sentence is long enough to keep the bot speaking while another member joins the call "
        "and then leaves it again before the bot has finished.")


async def test_a_member_joins_and_leaves_mid_sentence(dave_server, tb_factory) -> None:
    tb = await call_with_bob(tb_factory, dave_server)
    bob, bot_id = tb.bob, tb.emu.bot_user.id
    await tb.slash("join")
    call = dave_server.calls[tb.voice_channel.id]
    await tb.emu.wait_until(lambda: call.executed, what="the MLS group")
    session = dave_server.session_of(bot_id)
    assert (await tb.slash("say", {"text": LONG})).content.startswith("🔊")
    await tb.emu.wait_until(lambda: len(session.audio_packets) > 25, what="speech to start")
    carol = tb.emu.create_user("carol")
    tb.emu.add_member(tb.guild, carol)
    carol_member = LibdaveMember(carol.id)
    await carol_member.join(dave_server, tb.guild.id, tb.voice_channel.id)
    await tb.emu.wait_until(lambda: call.epoch == 2 and len(call.executed) == 2, what="Carol in the group")
    await tb.emu.wait_until(lambda: len(carol_member.heard(bot_id)) > 10, what="Carol to hear the bot")
    await carol_member.leave()
    await tb.emu.wait_until(lambda: call.epoch == 3 and len(call.executed) == 3, what="Carol removed")
    assert sorted(call.group.members) == sorted([bot_id, tb.user.id])
    await tb.emu.wait_until(lambda: session.speaking[-1:] == [0], timeout=60, what="the end of speech")
    assert session.speaking == [1, 0]
    executes = [t.executed for t in call.executed[1:]]
    late = [f for f in bob.frames if f.user_id == bot_id and f.at > executes[-1]]
    failed = bob.failed(bot_id)
    print(f"bob: {len(bob.frames)} frames, {len(failed)} failed, epochs {bob.epochs}; carol failed "
          f"{len(carol_member.failed(bot_id))}; events {[(e.kind, e.epoch) for e in call.events]}")
    assert late and all(f.opus is not None for f in late)
    assert bob.failures == [] and failed == []  # Bob, in the group all along, loses no frame
    # Carol can only lose what the bot sent under the epoch before her welcome (the protocol says
    # welcomed members cannot decrypt in-flight media): only frames before that transition ran. How
    # many depends on scheduling: 1 in an idle run, 4 seen on a loaded machine; half a second at most.
    carol_failed = carol_member.failed(bot_id)
    assert len(carol_failed) <= 25 and all(f.at <= call.executed[1].executed for f in carol_failed)
    assert_sounds_like(tb.tts.spoken[-1][1], bob.heard(bot_id))


async def test_a_client_without_dave_downgrades_the_call_and_its_leaving_upgrades_it(dave_server, tb_factory) -> None:
    tb = await call_with_bob(tb_factory, dave_server)
    bob, bot_id = tb.bob, tb.emu.bot_user.id
    await tb.slash("join")
    call = dave_server.calls[tb.voice_channel.id]
    await tb.emu.wait_until(lambda: call.executed, what="the MLS group")
    session = dave_server.session_of(bot_id)
    assert (await tb.slash("say", {"text": LONG})).content.startswith("🔊")
    await tb.emu.wait_until(lambda: len(session.audio_packets) > 25, what="speech to start")
    dan = tb.emu.create_user("dan")
    tb.emu.add_member(tb.guild, dan)
    plain = LibdaveMember(dan.id, dave=False)
    await plain.join(dave_server, tb.guild.id, tb.voice_channel.id)
    await tb.emu.wait_until(lambda: call.version == 0 and len(call.executed) == 2, what="the downgrade")
    await tb.emu.wait_until(lambda: len(plain.heard(bot_id)) > 10, what="Dan to hear the bot in the clear")
    downgraded = call.executed[1].executed
    await plain.leave()
    await tb.emu.wait_until(lambda: call.version == 1 and call.epoch == 1 and len(call.executed) == 3,
                            what="the upgrade to a new group")
    upgraded = call.executed[2].executed
    await tb.emu.wait_until(lambda: session.speaking[-1:] == [0], timeout=60, what="the end of speech")
    frames = [f for f in bob.frames if f.user_id == bot_id]
    # davey switches its key when it processes the upgrade's commit, not at op 22: under load a frame
    # or two sent with the new group's key can reach Bob before his welcome. Only those may fail.
    failed = bob.failed(bot_id)
    assert len(failed) <= 25 and all(abs(f.at - upgraded) < 2.0 for f in failed), failed
    assert bob.failures == []
    assert any(f.e2ee for f in frames if f.at < downgraded)  # encrypted before Dan came,
    assert any(not f.e2ee and f.opus != media.OPUS_SILENCE for f in frames if downgraded < f.at < upgraded)
    assert all(f.e2ee for f in frames if f.at > upgraded and f.opus != media.OPUS_SILENCE)  # and after he left
    assert [e.kind for e in call.events if e.kind in ("downgrade", "upgrade")] == ["downgrade", "upgrade"]
    assert plain.failed(bot_id) == [] and plain.heard(bot_id)  # the server kept E2EE frames from Dan
    assert_sounds_like(tb.tts.spoken[-1][1], bob.heard(bot_id))


def digits(text: str, label: str) -> str:
    line = next(line for line in text.splitlines() if label in line)
    return line.split("`")[1].replace(" ", "")


async def test_voice_code_matches_what_libdave_computes(dave_server, tb_factory) -> None:
    tb = await call_with_bob(tb_factory, dave_server)
    bob, bot_id = tb.bob, tb.emu.bot_user.id
    assert (await tb.say("!voice code")).content == "I'm not in a voice channel in this server."
    await tb.slash("join")
    call = dave_server.calls[tb.voice_channel.id]
    await tb.emu.wait_until(lambda: call.executed and bob.privacy_code(), what="the MLS group")
    reply = await tb.slash("voice", {"code": {}})
    assert reply.ephemeral and reply.content.startswith("🔒 The call in **Voice** is end-to-end encrypted.")
    code = digits(reply.content, "Voice privacy code")
    assert len(code) == 30 and code == bob.privacy_code()
    fingerprint = await bob.session.get_pairwise_fingerprint(0, str(bot_id))  # libdave: scrypt on its own thread
    assert digits(reply.content, "verification code") == dave.generate_displayable_code(fingerprint, 45, 5)
    prefix = await tb.say("!voice code")
    assert digits(prefix.content, "Voice privacy code") == code


async def test_a_refused_commit_and_an_unusable_welcome_end_in_op_31_and_a_re_add(dave_server, tb_factory) -> None:
    """The external sender refuses the bot's commit (Bob's wins), and the welcome the bot then gets
    cannot be processed: the bot flags it (op 31) with a fresh key package, the gateway removes and
    re-adds it in one commit, and Bob hears everything the bot says after that."""
    tb = await call_with_bob(tb_factory, dave_server)
    bob, bot_id = tb.bob, tb.emu.bot_user.id
    call = dave_server.calls[tb.voice_channel.id]
    call.refuse_commits[bot_id] = 1
    call.spoil[bot_id] = 1
    await tb.slash("join")
    session = dave_server.session_of(bot_id)
    await tb.emu.wait_until(lambda: [op for op, _ in session.client_ops if op == 31], what="op 31 from the bot")
    await tb.emu.wait_until(lambda: len(call.executed) >= 2 and bot_id in call.group.members
                            and backend(tb).connection(tb.guild.id).gateway.dave.ready, what="the re-add")
    refused = [e for e in call.events_of("refused") if e.user_id == bot_id]
    assert refused and refused[0].detail == "refused by a test fault"
    [spoiled] = call.events_of("spoiled")
    [invalid] = call.events_of("invalid")
    assert spoiled.user_id == invalid.user_id == bot_id and invalid.transition == call.executed[0].id
    readd = call.events_of("commit")[-1]
    assert readd.user_id == tb.user.id and readd.detail == f"added [{bot_id}], removed []" and call.epoch == 2
    assert len([f for f in session.binary_frames if f[0] == 26]) == 2  # a fresh key package after op 31
    wav = await speak(tb, dave_server, "hello again")
    assert bob.failed(bot_id) == [] and bob.failures == []
    assert all(p.e2ee for p in session.audio_packets)
    assert_sounds_like(wav, bob.heard(bot_id))


async def test_bob_s_own_e2ee_frames_reach_the_bot(dave_server, tb_factory) -> None:
    """Bob encrypts with libdave's Encryptor; the server relays to the bot's UDP socket under the
    bot's transport key (the bot does not play received audio yet: the datagrams only arrive)."""
    tb = await call_with_bob(tb_factory, dave_server)
    bob = tb.bob
    await tb.slash("join")
    call = dave_server.calls[tb.voice_channel.id]
    await tb.emu.wait_until(lambda: call.executed and bob.encryptor.has_key_ratchet(), what="Bob's key ratchet")
    udp = backend(tb).connection(tb.guild.id).gateway.session.udp
    before = udp.received
    frames = [bytes([0x78]) + bytes(range(i, i + 40)) for i in range(20)]
    assert bob.send(frames) == 20
    await tb.emu.wait_until(lambda: udp.received == before + 20, what="Bob's frames at the bot")
    stats = bob.encryptor.get_stats(dave.MediaType.audio)
    assert stats.encrypt_success_count == 20 and stats.passthrough_count == 0


def test_the_gateway_observer_refuses_commits_libdave_made_for_the_wrong_group_or_proposals() -> None:
    """Real commits from libdave, checked by the gateway's observer without the bot: one from a member
    whose MLS group id is not the channel id (a bug the issue names), one that leaves out a proposal
    the gateway broadcast, and the valid one, accepted."""
    from framework.emulator import mls_gateway as mls

    channel, alice_id, bob_id, carol_id = 1_000_000_000_000_000_001, 11, 22, 33
    sender = mls.ExternalSender()

    def member(user_id: int, group: int):
        session = dave.Session(None)
        session.init(1, group, str(user_id), None)
        session.set_external_sender(sender.package)
        return session, sender.key_package(session.get_marshalled_key_package(), user_id)

    users = {str(alice_id), str(bob_id), str(carol_id)}
    alice, alice_kp = member(alice_id, channel + 1)  # the wrong group id
    _, bob_kp = member(bob_id, channel)
    _, carol_kp = member(carol_id, channel)
    view = mls.GroupView(channel)
    wrong_group = [sender.add(mls.group_id(channel + 1), 0, bob_kp)]
    commit = alice.process_proposals(mls.proposals_message(wrong_group), users)
    with pytest.raises(mls.InvalidMls, match="commit for group"):
        view.inspect(commit, committer=alice_id, expected=wrong_group, own_package=alice_kp)
    good, bob2 = member(bob_id, channel)
    bob_kp = bob2
    proposals = [sender.add(view.group_id, 0, carol_kp), sender.add(view.group_id, 0, alice_kp)]
    partial = good.process_proposals(mls.proposals_message(proposals[:1]), users)
    with pytest.raises(mls.InvalidMls, match="exactly the proposals"):
        view.inspect(partial, committer=bob_id, expected=proposals, own_package=bob_kp)
    full = good.process_proposals(mls.proposals_message(proposals[1:]), users)
    info = view.inspect(full, committer=bob_id, expected=proposals, own_package=bob_kp)
    assert info.welcome is not None and view.apply(proposals, creator=bob_kp) == [carol_id, alice_id]
    assert view.epoch == 1 and view.leaves == [bob_id, carol_id, alice_id]
    with pytest.raises(mls.InvalidMls, match="epoch 0, the group is at epoch 1"):
        view.inspect(full, committer=bob_id, expected=proposals)
    with pytest.raises(mls.InvalidMls, match="is not user"):
        sender.key_package(bob_kp.raw, carol_id)


async def test_leaving_resets_the_sole_member_and_rejoining_forms_a_new_group(dave_server, tb_factory) -> None:
    tb = await call_with_bob(tb_factory, dave_server)
    bob, bot_id = tb.bob, tb.emu.bot_user.id
    await tb.slash("join")
    call = dave_server.calls[tb.voice_channel.id]
    await tb.emu.wait_until(lambda: call.executed and bob.privacy_code(), what="the MLS group")
    first_code = bob.privacy_code()
    assert (await tb.slash("leave")).content == "👋 Left **Voice**."
    await tb.emu.wait_until(lambda: call.events_of("sole-member-reset"), what="the sole-member reset")
    assert call.epoch == 0 and call.group.members == []
    await tb.emu.wait_until(lambda: bob.sent_ops.count(26) == 2, what="Bob's new key package")
    assert (await tb.slash("join")).content.startswith("🔊 Joined **Voice**.")
    await tb.emu.wait_until(lambda: call.epoch == 1 and len(call.executed) == 2, what="a new group")
    wav = await speak(tb, dave_server, "back again")
    assert bob.privacy_code() != first_code
    assert bob.failed(bot_id) == [] and bob.failures == []
    assert_sounds_like(wav, bob.heard(bot_id))
