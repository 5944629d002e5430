// The composer's suggestions, as Discord's client gives them: slash commands, their subcommands and
// options (with types, descriptions, choices and the bot's autocomplete), and members after "@".
// Arrow keys move, Tab or a click accepts, Enter accepts a word not yet complete, Escape closes.
"use strict";

const TYPE_NAMES = { 3: "text", 4: "whole number", 5: "true or false", 6: "user", 7: "channel", 8: "role",
  9: "mentionable", 10: "number", 11: "file (drop it on the page)" };

function currentWord(input) {
  const pos = input.selectionStart === null ? input.value.length : input.selectionStart;
  const match = input.value.slice(0, pos).match(/(\S*)$/);
  return { start: pos - match[1].length, end: pos, word: match[1] };
}

function quoteValue(value) { return /\s/.test(value) ? '"' + value.replace(/"/g, "") + '"' : value; }

function updateSuggest(event) {
  const input = $("input");
  const w = currentWord(input);
  if (w.word.startsWith("@")) {
    const typed = w.word.slice(1).toLowerCase();
    const items = [...S.members.values()].filter((m) => m.name.toLowerCase().startsWith(typed))
      .map((m) => ({ label: "@" + m.name, desc: roleOf(m), insert: "@" + m.name + " ", start: w.start, end: w.end }));
    showSuggest(items, "Members");
  } else if (input.value.startsWith("/")) {
    if (input.value === "/" && !(event && event.refreshed)) refreshCommands();
    slashSuggest(input.value.slice(0, w.end), w);
  } else {
    closeSuggest();
  }
}

// The bot's commands change when a plugin is switched on or off: read them again on each new "/".
async function refreshCommands() {
  try {
    S.commands = await (await fetch("/api/commands")).json();
    if ($("input").value.startsWith("/")) updateSuggest({ refreshed: true });
  } catch (err) { /* the list in hand stays */ }
}

function slashSuggest(before, w) {
  const words = before.slice(1).split(/\s+/);
  const commands = S.commands.filter((c) => (c.type || 1) === 1);
  if (words.length === 1) {
    const items = commands.filter((c) => c.name.startsWith(words[0].toLowerCase()))
      .map((c) => ({ label: "/" + c.name, desc: c.description, insert: "/" + c.name + " ", start: 0, end: w.end }));
    showSuggest(items, "Commands");
    return;
  }
  const cmd = commands.find((c) => c.name === words[0].toLowerCase());
  if (!cmd) { showSuggest([], "No command /" + words[0]); return; }
  let declared = cmd.options || [];
  let path = "/" + cmd.name;
  let index = 1;
  while (declared.some((o) => o.type === 1 || o.type === 2)) {
    const subs = declared.filter((o) => o.type === 1 || o.type === 2);
    if (index === words.length - 1) {
      showSuggest(subs.filter((o) => o.name.startsWith(words[index])).map((o) => ({
        label: path + " " + o.name, desc: o.description, insert: o.name + " ", start: w.start, end: w.end })), path);
      return;
    }
    const sub = subs.find((o) => o.name === words[index]);
    if (!sub) { showSuggest([], path + " has no subcommand " + words[index]); return; }
    declared = sub.options || [];
    path += " " + sub.name;
    index += 1;
  }
  const given = new Set(words.slice(index, -1).map((word) => word.split(":")[0]));
  const colon = w.word.indexOf(":");
  if (colon > 0) {
    const option = declared.find((o) => o.name === w.word.slice(0, colon));
    if (!option) { closeSuggest(); return; }
    const typed = w.word.slice(colon + 1).replace(/^"/, "");
    const hint = option.name + ": " + (TYPE_NAMES[option.type] || "") + " — " + option.description;
    const choices = option.choices || (option.type === 5 ? [{ name: "true", value: "true" }, { name: "false", value: "false" }] : []);
    if (option.autocomplete) { autocomplete(option, w, hint); return; }
    showSuggest(choices.filter((c) => String(c.name).toLowerCase().startsWith(typed.toLowerCase()))
      .map((c) => choiceItem(option, c, w)), hint);
    return;
  }
  const items = declared.filter((o) => !given.has(o.name) && o.name.startsWith(w.word)).map((o) => ({
    label: o.name + ":", desc: (TYPE_NAMES[o.type] || "") + " — " + o.description, required: o.required,
    insert: o.name + ":", start: w.start, end: w.end }));
  const usage = path + " " + declared.map((o) => (o.required ? o.name : "[" + o.name + "]")).join(" ");
  showSuggest(items, usage);
}

function choiceItem(option, choice, w) {
  return { label: String(choice.name), desc: String(choice.value) === String(choice.name) ? "" : String(choice.value),
    insert: option.name + ":" + quoteValue(String(choice.value)) + " ", start: w.start, end: w.end };
}

function autocomplete(option, w, hint) {
  clearTimeout(autocomplete.timer);
  const line = $("input").value;
  autocomplete.timer = setTimeout(async () => {
    try {
      const result = await api("/api/autocomplete", { user: S.user, channel: S.channel, line, option: option.name });
      if ($("input").value !== line) return;
      showSuggest(result.choices.map((c) => choiceItem(option, c, w)), hint);
    } catch (err) { showSuggest([], hint + " (" + err.message + ")"); }
  }, 150);
}

function showSuggest(items, hint) {
  S.suggest = items;
  S.selected = 0;
  const box = $("suggest");
  box.replaceChildren(el("div", { class: "hint" }, hint || ""), ...items.map((item, i) => el("div", {
    class: "option" + (i === 0 ? " selected" : ""), "data-insert": item.insert,
    onmousedown: (ev) => { ev.preventDefault(); S.selected = i; acceptSuggestion(true); },
  }, el("b", {}, item.label), item.required ? el("span", { class: "req" }, "required") : null,
  item.desc ? el("span", { class: "desc" }, item.desc) : null)));
  box.hidden = !hint && !items.length;
}

function closeSuggest() { S.suggest = []; $("suggest").hidden = true; }

// Accept the selected suggestion; with `force` false (Enter) only when the word is not complete yet.
function acceptSuggestion(force) {
  const item = S.suggest[S.selected];
  if ($("suggest").hidden || !item) return false;
  const input = $("input");
  const current = input.value.slice(item.start, item.end).trim();
  if (!force && (!current || item.insert.trim() === current)) return false;
  input.value = input.value.slice(0, item.start) + item.insert + input.value.slice(item.end);
  const pos = item.start + item.insert.length;
  input.setSelectionRange(pos, pos);
  input.focus();
  updateSuggest();
  return true;
}

function suggestKeys(ev) {
  if ($("suggest").hidden || !S.suggest.length) {
    if (ev.key === "Escape") { cancelReply(); closeSuggest(); }
    return;
  }
  const options = $("suggest").querySelectorAll(".option");
  if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
    ev.preventDefault();
    S.selected = (S.selected + (ev.key === "ArrowDown" ? 1 : -1) + S.suggest.length) % S.suggest.length;
    options.forEach((o, i) => o.classList.toggle("selected", i === S.selected));
  } else if (ev.key === "Tab") {
    ev.preventDefault();
    acceptSuggestion(true);
  } else if (ev.key === "Escape") {
    closeSuggest();
  }
}
