// The voice side of the page: joining the voice channel, playing what the bot says there (PCM
// frames from the server's WebSocket, through Web Audio), and the voice-message button (the
// microphone, recorded with MediaRecorder and sent as a voice message).
"use strict";

// -- the voice channel and the bot's voice
async function joinVoice(on) {
  try {
    const result = await api("/api/voice", { user: S.user, join: on });
    S.inVoice = on;
    $("voice-panel").hidden = !on;
    if (on && !S.audio.ctx) {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (Ctx) S.audio.ctx = new Ctx({ sampleRate: 48000 });
    }
    if (S.audio.ctx && on) S.audio.ctx.resume().catch(() => null);
    if (S.ws && S.ws.readyState === 1) S.ws.send(JSON.stringify({ type: "listen", on }));
    renderChannels(result.members);
  } catch (err) { systemNote(err.message); }
}

function playPcm(buffer) {
  const samples = new Int16Array(buffer);
  S.audio.frames += 1;
  S.audio.bytes += buffer.byteLength;
  $("audio-status").textContent = "🔊 the bot is speaking (" + (S.audio.bytes / 96000).toFixed(1) + " s heard)";
  const ctx = S.audio.ctx;
  if (!ctx || !samples.length) return;
  const audio = ctx.createBuffer(1, samples.length, 48000);
  const channel = audio.getChannelData(0);
  for (let i = 0; i < samples.length; i++) channel[i] = samples[i] / 32768;
  const source = ctx.createBufferSource();
  source.buffer = audio;
  source.connect(ctx.destination);
  S.audio.at = Math.max(S.audio.at, ctx.currentTime + 0.05);
  source.start(S.audio.at);
  S.audio.at += audio.duration;
}

// -- the voice-message button: record from the microphone, send as a voice message
async function toggleRecording() {
  const mic = $("mic");
  if (S.recorder) { S.recorder.stop(); return; }
  if (!navigator.mediaDevices || !window.MediaRecorder) { systemNote("This browser cannot record audio."); return; }
  let stream;
  try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); } catch (err) {
    systemNote("No microphone: " + err.message);
    return;
  }
  const type = ["audio/ogg;codecs=opus", "audio/webm;codecs=opus"].find((t) => MediaRecorder.isTypeSupported(t)) || "";
  const recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
  const chunks = [];
  const started = Date.now();
  recorder.ondataavailable = (e) => chunks.push(e.data);
  recorder.onstop = async () => {
    stream.getTracks().forEach((t) => t.stop());
    S.recorder = null;
    mic.classList.remove("recording");
    const kind = (recorder.mimeType || "audio/ogg").split(";")[0];
    const file = new File(chunks, "voice-message." + (kind.includes("webm") ? "webm" : "ogg"), { type: kind });
    const duration = ((Date.now() - started) / 1000).toFixed(2);
    try { await send("", [file], { voice: "1", duration }); } catch (err) { systemNote(err.message); }
  };
  S.recorder = recorder;
  mic.classList.add("recording");
  recorder.start();
}
