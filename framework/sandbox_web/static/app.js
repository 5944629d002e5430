// The sandbox page: plain JavaScript, no build step. It shows the local Discord's server and acts as
// the member chosen in the member list, through the small JSON API of framework/sandbox_web/server.py.
"use strict";

const S = {
  state: null, user: null, channel: null, messages: new Map(), members: new Map(), commands: [],
  replyTo: null, files: [], inVoice: false, ws: null, suggest: [], selected: 0,
  audio: { frames: 0, bytes: 0, ctx: null, at: 0 },
};
window.sandbox = S; // the browser tests read S.audio
const $ = (id) => document.getElementById(id);
const QUICK_REACTIONS = ["👍", "👎", "❤️", "🎉", "😂"];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

async function api(path, body) {
  const init = body instanceof FormData ? { method: "POST", body }
    : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok || data.error) throw new Error(data.error || response.statusText);
  return data;
}

function toast(text) {
  const t = $("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 2500);
}

// -- the server, its channels and members
async function load() {
  const state = await (await fetch("/api/state")).json();
  S.state = state;
  S.user = S.user || sessionStorage.getItem("sandbox-user") || state.me;
  S.channel = state.text;
  S.commands = state.commands;
  S.members = new Map(state.members.map((m) => [m.id, m]));
  $("guild-name").textContent = state.guild.name;
  $("server-icon").textContent = state.guild.name.slice(0, 1);
  S.messages.clear();
  $("messages").replaceChildren();
  state.messages.forEach(upsert);
  renderChannels(state.voice_members);
  renderMembers();
  scrollDown(true);
}

function member(id) { return S.members.get(id) || { id, name: "unknown", bot: false }; }
function userName(id) { return member(id).name; }

function renderChannels(voiceMembers) {
  const text = S.state.channels.filter((c) => c.kind === "text");
  const voice = S.state.channels.filter((c) => c.kind === "voice");
  $("text-channels").replaceChildren(...text.map((c) => el("li", {
    class: "channel" + (c.id === S.channel ? " active" : ""), "data-channel": c.id,
  }, "# " + c.name)));
  $("voice-channels").replaceChildren(...voice.map((c) => el("li", {},
    el("div", { class: "channel voice-channel", "data-channel": c.id, onclick: () => joinVoice(true),
      title: "Join voice" }, "🔊 " + c.name),
    (voiceMembers || []).map((id) => el("div", { class: "voice-member", "data-user": id }, userName(id))))));
}

function renderMembers() {
  const me = member(S.user);
  $("me").replaceChildren(el("b", {}, me.name), el("span", { class: "role" }, roleOf(me)));
  $("member-list").replaceChildren(...[...S.members.values()].map((m) => el("li", {
    class: "member" + (m.bot ? " bot" : "") + (m.id === S.user ? " active" : ""), "data-user": m.id,
    "data-name": m.name, onclick: () => switchUser(m),
  }, el("span", { class: "dot" }, m.name.slice(0, 1).toUpperCase()),
  el("span", {}, m.name, m.bot ? el("span", { class: "tag" }, "BOT") : null,
    el("span", { class: "role" }, roleOf(m))))));
}

function roleOf(m) {
  if (m.bot) return "the bot: mention it to chat";
  return m.owner ? "owner: every permission" : "member: no permissions";
}

function switchUser(m) {
  if (m.bot) { insertText("@" + m.name + " "); return; }
  S.user = m.id;
  sessionStorage.setItem("sandbox-user", m.id);
  if (S.inVoice) joinVoice(false);
  renderMembers();
  for (const message of S.messages.values()) upsert(message);
  toast("You are now " + m.name);
}

// -- messages
function visible(m) { return !m.visible_to || m.visible_to === S.user; }

function renderContent(text) {
  let html = text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  html = html.replace(/```(?:\w*\n)?([\s\S]*?)```/g, "<pre>$1</pre>")
    .replace(/`([^`\n]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<b>$1</b>")
    .replace(/&lt;@!?(\d+)&gt;/g, (_, id) => `<span class="mention" data-user="${id}">@${escapeHtml(userName(id))}</span>`)
    .replace(/&lt;\/([\w -]+):\d+&gt;/g, '<span class="mention">/$1</span>')
    .replace(/&lt;#(\d+)&gt;/g, (_, id) => {
      const channel = S.state.channels.find((c) => c.id === id);
      return `<span class="mention">#${escapeHtml(channel ? channel.name : id)}</span>`;
    });
  const div = el("div", { class: "content" });
  div.innerHTML = html;
  return div;
}

function escapeHtml(text) { return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }

function renderAttachment(a) {
  if (a.kind === "image") return el("img", { class: "attachment-image", src: a.url, alt: a.filename, title: a.filename });
  if (a.kind === "audio") {
    return el("div", {}, el("audio", { class: "attachment-audio", controls: "", src: a.url, preload: "metadata" }),
      el("a", { class: "file", href: a.url, download: a.filename }, "🎵 " + a.filename));
  }
  return el("a", { class: "file", href: a.url, download: a.filename, title: a.size + " bytes" },
    "📄 " + a.filename + " (" + a.size + " bytes)");
}

function renderEmbed(e) {
  return el("div", { class: "embed" },
    e.title ? el("div", { class: "title" }, e.title) : null,
    e.description ? renderContent(e.description) : null,
    e.fields.map((f) => el("div", {}, el("div", { class: "field-name" }, f.name), renderContent(f.value))),
    e.image ? el("img", { class: "attachment-image", src: e.image }) : null,
    e.footer ? el("div", { class: "ephemeral-note" }, e.footer) : null);
}

function renderMessage(m) {
  const author = m.author;
  const mentionsMe = m.content.includes("<@" + S.user + ">");
  const node = el("div", {
    class: "msg" + (mentionsMe ? " mentions-you" : "") + (S.replyTo === m.id ? " replying" : ""), id: "m" + m.id,
    "data-id": m.id, "data-author": author.name, oncontextmenu: (ev) => { ev.preventDefault(); openMenu(m, ev); },
  });
  if (m.reply) {
    const excerpt = renderContent(m.reply.content.slice(0, 100));
    excerpt.className = "excerpt";
    node.append(el("div", { class: "context" }, "↱ ", el("b", {}, "@" + (m.reply.author || "?")), " ", excerpt));
  } else if (m.command) {
    node.append(el("div", { class: "context" }, "↱ " + m.command.user + " used ", el("span", { class: "mention" },
      "/" + m.command.name)));
  }
  node.append(el("div", { class: "avatar" + (author.bot ? " bot" : "") }, author.name.slice(0, 1).toUpperCase()));
  const time = new Date(m.timestamp * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const body = el("div", { class: "body" },
    el("div", { class: "head" }, el("span", { class: "author" }, author.name),
      author.bot ? el("span", { class: "tag" }, "BOT") : null, el("time", { title: "id " + m.id }, time)),
    m.thinking ? el("div", { class: "thinking" }, author.name + " is thinking…") : renderContent(m.content),
    m.edited ? el("span", { class: "edited" }, "(edited)") : null,
    m.voice_message ? el("div", { class: "ephemeral-note" }, "🎤 voice message") : null,
    el("div", { class: "attachments", "data-key": m.attachments.map((a) => a.id).join(" ") },
      m.attachments.map(renderAttachment)),
    m.embeds.map(renderEmbed),
    el("div", { class: "reactions" }, m.reactions.map((r) => el("button", {
      class: "reaction" + (r.users.includes(S.user) ? " mine" : ""), type: "button", "data-emoji": r.emoji,
      title: r.users.map(userName).join(", "), onclick: () => react(m.id, r.emoji),
    }, r.emoji + " " + r.users.length))),
    m.ephemeral ? el("div", { class: "ephemeral-note" }, "👁 Only you can see this") : null);
  node.append(body, el("div", { class: "actions" },
    el("button", { type: "button", title: "Add 👍", onclick: () => react(m.id, "👍") }, "👍"),
    el("button", { type: "button", title: "Reply", "data-act": "reply", onclick: () => startReply(m) }, "↩"),
    el("button", { type: "button", title: "Copy message id", "data-act": "copy", onclick: () => copyId(m.id) }, "🆔"),
    el("button", { type: "button", title: "More", "data-act": "more", onclick: (ev) => openMenu(m, ev) }, "⋯")));
  if (!visible(m)) node.hidden = true;
  return node;
}

function upsert(m) {
  S.messages.set(m.id, m);
  const old = document.getElementById("m" + m.id);
  const node = renderMessage(m);
  const atBottom = nearBottom();
  if (old) {
    // the same files: keep their elements, so a playing audio or a loaded image is not reset
    const kept = old.querySelector(".attachments");
    const fresh = node.querySelector(".attachments");
    if (kept && fresh && kept.dataset.key === fresh.dataset.key) fresh.replaceWith(kept);
    old.replaceWith(node);
    return;
  }
  const list = $("messages");
  const later = [...list.children].find((child) => BigInt(child.dataset.id) > BigInt(m.id));
  list.insertBefore(node, later || null);
  scrollDown(atBottom);
}

function nearBottom() { const l = $("messages"); return l.scrollHeight - l.scrollTop - l.clientHeight < 80; }
function scrollDown(really) { if (really) { const l = $("messages"); l.scrollTop = l.scrollHeight; } }

function systemNote(text) {
  const id = String(BigInt(Date.now()) << 22n);
  $("messages").append(el("div", { class: "msg system", "data-id": id },
    el("div", { class: "avatar bot" }, "!"),
    el("div", {}, el("span", { class: "author" }, "sandbox"), el("div", { class: "content" }, text),
      el("div", { class: "ephemeral-note" }, "👁 Only you can see this"))));
  scrollDown(true);
}

// -- actions on messages
async function react(id, emoji) {
  try { await api("/api/react", { user: S.user, message: id, emoji }); } catch (err) { systemNote(err.message); }
}

function startReply(m) {
  S.replyTo = m.id;
  $("reply-name").textContent = m.author.name;
  $("reply-bar").hidden = false;
  $("input").focus();
  upsert(m);
}

function cancelReply() {
  const id = S.replyTo;
  S.replyTo = null;
  $("reply-bar").hidden = true;
  if (id && S.messages.has(id)) upsert(S.messages.get(id));
}

async function copyId(id) {
  try { await navigator.clipboard.writeText(id); } catch (err) {
    const area = el("textarea", {}, id);
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  toast("Copied message id " + id);
}

function openMenu(m, ev) {
  const apps = S.commands.filter((c) => c.type === 3);
  const menu = $("menu");
  const close = () => { menu.hidden = true; };
  const item = (label, action, sub) => el("div", {
    class: "item", "data-item": label,
    onclick: (e) => { e.stopPropagation(); if (action) { close(); action(); } else e.currentTarget.classList.toggle("open"); },
  }, label, sub || null);
  menu.replaceChildren(
    item("Add Reaction ›", null, el("div", { class: "sub" }, QUICK_REACTIONS.map((e) => item(e, () => react(m.id, e))))),
    item("Reply", () => startReply(m)),
    item("Apps ›", null, el("div", { class: "sub" }, apps.length ? apps.map((c) => item(c.name, () => runApp(c.name, m)))
      : el("div", { class: "item" }, "no apps"))),
    el("hr"),
    item("Copy Text", () => navigator.clipboard.writeText(m.content).catch(() => null)),
    item("Copy Message ID", () => copyId(m.id)));
  menu.style.left = Math.min(ev.clientX, window.innerWidth - 240) + "px";
  menu.style.top = Math.min(ev.clientY, window.innerHeight - 220) + "px";
  menu.hidden = false;
}

async function runApp(name, m) {
  try {
    const result = await api("/api/menu", { user: S.user, message: m.id, name });
    if (result.modal) openModal(result.modal);
  } catch (err) { systemNote(err.message); }
}

function openModal(modal) {
  $("modal-title").textContent = modal.title;
  $("modal-inputs").replaceChildren(...modal.inputs.map((i) => el("label", {}, i.label,
    i.style === 2
      ? el("textarea", { name: i.custom_id, rows: 4, placeholder: i.placeholder, required: i.required, maxlength: i.max_length }, i.value)
      : el("input", { name: i.custom_id, placeholder: i.placeholder, value: i.value, required: i.required, maxlength: i.max_length }))));
  $("modal").dataset.interaction = modal.interaction;
  $("modal-back").hidden = false;
  const first = $("modal-inputs").querySelector("input, textarea");
  if (first) first.focus();
}

async function submitModal(ev) {
  ev.preventDefault();
  const values = {};
  for (const field of $("modal-inputs").querySelectorAll("input, textarea")) values[field.name] = field.value;
  $("modal-back").hidden = true;
  try { await api("/api/modal", { user: S.user, interaction: $("modal").dataset.interaction, values }); } catch (err) {
    systemNote(err.message);
  }
}

// -- sending
async function send(text, files, extra) {
  const form = new FormData();
  form.append("user", S.user);
  form.append("channel", S.channel);
  form.append("content", text); // the server reads mentions, /commands, >ID replies, +ID 👍
  if (S.replyTo && !text.startsWith("/")) form.append("reply_to", S.replyTo);
  for (const [key, value] of Object.entries(extra || {})) form.append(key, value);
  for (const f of files) form.append("files", f, f.name);
  return api("/api/send", form);
}

async function submit(ev) {
  ev.preventDefault();
  if (acceptSuggestion()) return;
  const input = $("input");
  const text = input.value.trim();
  if (!text && !S.files.length) return;
  const files = S.files;
  input.value = "";
  S.files = [];
  renderFiles();
  closeSuggest();
  try {
    const result = await send(text, files);
    if (result.as) switchUser(member(result.as));
    if (result.note) systemNote(result.note);
    if (result.modal) openModal(result.modal);
  } catch (err) { systemNote(err.message); }
  cancelReply();
}

function addFiles(list) { S.files.push(...list); renderFiles(); }

function renderFiles() {
  $("files").replaceChildren(...S.files.map((f, i) => el("span", { class: "chip", "data-file": f.name }, "📎 " + f.name,
    el("button", { type: "button", title: "Remove", onclick: () => { S.files.splice(i, 1); renderFiles(); } }, "✕"))));
}

function insertText(text) {
  const input = $("input");
  input.value = (input.value && !input.value.endsWith(" ") ? input.value + " " : input.value) + text;
  input.focus();
}

// -- live updates
function connect() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    // the state is read once the socket is open, so no change falls between the two
    load().then(() => {
      if (S.inVoice) ws.send(JSON.stringify({ type: "listen", on: true }));
      document.body.dataset.ready = "1";
    });
  };
  ws.onmessage = (ev) => {
    if (ev.data instanceof ArrayBuffer) { playPcm(ev.data); return; }
    const event = JSON.parse(ev.data);
    if (event.type === "message") upsert(event.message);
    else if (event.type === "delete") { S.messages.delete(event.id); const n = $("m" + event.id); if (n) n.remove(); }
    else if (event.type === "voice") renderChannels(event.members);
  };
  ws.onclose = () => { document.body.dataset.ready = ""; setTimeout(connect, 1000); };
  S.ws = ws;
}

function wire() {
  $("composer").addEventListener("submit", submit);
  $("input").addEventListener("input", updateSuggest);
  $("input").addEventListener("keydown", suggestKeys);
  $("reply-cancel").addEventListener("click", cancelReply);
  $("file-input").addEventListener("change", (ev) => { addFiles([...ev.target.files]); ev.target.value = ""; });
  $("mic").addEventListener("click", toggleRecording);
  $("leave-voice").addEventListener("click", () => joinVoice(false));
  $("modal").addEventListener("submit", submitModal);
  $("modal-cancel").addEventListener("click", () => { $("modal-back").hidden = true; });
  document.addEventListener("click", () => { $("menu").hidden = true; });
  const chat = $("chat");
  chat.addEventListener("dragover", (ev) => { ev.preventDefault(); $("drop-hint").hidden = false; });
  chat.addEventListener("dragleave", (ev) => { if (ev.target === chat || !chat.contains(ev.relatedTarget)) $("drop-hint").hidden = true; });
  chat.addEventListener("drop", (ev) => {
    ev.preventDefault();
    $("drop-hint").hidden = true;
    addFiles([...ev.dataTransfer.files]);
  });
}

wire();
connect();
