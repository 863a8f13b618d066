// The sandbox page: fetch the chats every 1.5 s and show new lines as they arrive, so that
// the bot's warning and alerts appear without reloading. Built with DOM calls and
// textContent only: chat text is never parsed as HTML. Times come formatted by the server, in
// the configured zone, as the bot writes them in its messages.
"use strict";
(() => {
  const lists = new Map();
  document.querySelectorAll("ul.lines[data-chat]").forEach((ul) => lists.set(ul.dataset.chat, ul));
  if (!lists.size) return;
  const counts = new Map();
  lists.forEach((ul, key) => counts.set(key, ul.querySelectorAll("li.line").length));

  const span = (className, text) => {
    const element = document.createElement("span");
    element.className = className;
    element.textContent = text;
    return element;
  };
  const item = (line) => {
    const li = document.createElement("li");
    li.className = line.from_bot ? "line from-bot" : "line";
    li.append(span("who", line.sender_name), " ", span("when", line.when));
    const text = document.createElement("div");
    text.className = "text";
    if (line.kind !== "text") text.append(span("kind", `[${line.kind}]`), " ");
    line.mentions.forEach((name) => text.append(span("mention", `@${name}`), " "));
    text.append(line.text);
    li.append(text);
    return li;
  };
  const show = (key, lines) => {
    const ul = lists.get(key);
    if (!ul || counts.get(key) === lines.length) return;
    ul.replaceChildren(...lines.map(item));
    counts.set(key, lines.length);
    ul.scrollTop = ul.scrollHeight;
  };
  const refresh = async () => {
    try {
      const response = await fetch("/api/sandbox/messages", { credentials: "same-origin" });
      if (response.ok) {
        const chats = await response.json();
        show("group", chats.group.lines);
        chats.direct.forEach((chat) => show(chat.contact_id, chat.lines));
      }
    } catch (error) {
      // The server restarting: try again at the next tick.
    }
  };
  lists.forEach((ul) => { ul.scrollTop = ul.scrollHeight; });
  setInterval(refresh, 1500);
})();
