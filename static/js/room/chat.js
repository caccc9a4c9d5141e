// The chat panel: messages as text only (never parsed as HTML), a 2000-character
// input, refusals said in the panel, off when an organizer turned it off, and an
// unread count on the chat button while the panel is closed. A feature of the room
// (features.js): loaded with its markup when the panel is first opened or the first
// message comes.
import { el } from "./dom.js";

const MAX_LENGTH = 2000;
const KEPT_MESSAGES = 500;

export class Chat {
  constructor({ list, form, input, send, error, disabledNote, unread, selfId, request, isOpen }) {
    Object.assign(this, { list, form, input, send, error, disabledNote, unread, selfId, request, isOpen });
    this.unreadCount = 0;
    this.allowed = true;
    this.connected = false;
    input.maxLength = MAX_LENGTH;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    input.addEventListener("keydown", (event) => {
      // Enter sends, Shift+Enter starts a new line.
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    input.addEventListener("input", () => this.showError(""));
  }

  async submit() {
    const text = this.input.value.trim();
    if (!text || !this.allowed) return;
    if (text.length > MAX_LENGTH) {
      this.showError(gettext("A message has at most 2000 characters."));
      return;
    }
    this.send.disabled = true;
    try {
      await this.request("chat.send", { text });
      this.input.value = "";
      this.showError("");
    } catch (error) {
      const messages = {
        rate_limited: gettext("You are sending messages too fast. Wait a few seconds."),
        forbidden: gettext("An organizer turned your chat off."),
        invalid: gettext("This message cannot be sent (1 to 2000 characters)."),
        disconnected: gettext("Not connected. Your message was not sent."),
      };
      this.showError(messages[error.code] || error.message || gettext("Your message was not sent."));
    } finally {
      this.refresh();
      this.input.focus();
    }
  }

  showError(text) {
    this.error.textContent = text;
    this.error.hidden = !text;
  }

  add({ participant_id: from, name, text, at }) {
    const item = el("li", "chat__message");
    if (from === this.selfId) item.classList.add("chat__message--own");
    item.dataset.participantId = String(from);
    const meta = el("div", "chat__meta");
    meta.append(el("span", "chat__name", name));
    const time = el("time", "chat__time");
    const date = new Date(at);
    if (!Number.isNaN(date.getTime())) {
      time.dateTime = date.toISOString();
      time.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    }
    meta.append(time);
    item.append(meta, el("p", "chat__text", text));
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.list.append(item);
    while (this.list.children.length > KEPT_MESSAGES) this.list.firstElementChild.remove();
    if (atBottom || from === this.selfId) item.scrollIntoView({ block: "end" });
    if (!this.isOpen() && from !== this.selfId) this.setUnread(this.unreadCount + 1);
  }

  setUnread(count) {
    this.unreadCount = count;
    this.unread.textContent = count > 99 ? "99+" : String(count);
    this.unread.hidden = count === 0;
  }

  opened() {
    this.setUnread(0);
    this.list.lastElementChild?.scrollIntoView({ block: "end" });
  }

  setAllowed(allowed) {
    this.allowed = allowed;
    this.disabledNote.hidden = allowed;
    this.refresh();
  }

  setConnected(connected) {
    this.connected = connected;
    this.refresh();
  }

  refresh() {
    this.input.disabled = !this.allowed;
    this.send.disabled = !this.allowed || !this.connected;
  }
}

// The feature's hooks (features.js); the unread count is the core's Chat button's.
export function setup(room) {
  const $ = (id) => document.getElementById(id);
  const chat = new Chat({
    list: $("chat-messages"),
    form: $("chat-form"),
    input: $("chat-input"),
    send: $("chat-send"),
    error: $("chat-error"),
    disabledNote: $("chat-disabled"),
    unread: $("chat-unread"),
    selfId: room.selfId,
    request: room.request,
    isOpen: () => room.openPanel === "chat",
  });
  chat.setConnected(room.live);
  return {
    onEvent: (type, body) => {
      if (type === "chat.message") chat.add(body);
    },
    setSelf: (self) => chat.setAllowed(self.chat_allowed !== false),
    liveChanged: (live) => chat.setConnected(live),
    opened: () => chat.opened(),
  };
}
