// The organizers' side of the lobby: a chime and a fixed, pulsing badge that stays
// visible over a shared screen, and a panel to accept or reject each person or all.
// A feature of the room (features.js), loaded with its markup when someone waits.
import { chime } from "./audio.js";
import { describeError, el, notice } from "./dom.js";
import { fmt } from "../ui.js";

export class LobbyPanel {
  constructor({ panel, list, badge, acceptAll, rejectAll, close, request }) {
    Object.assign(this, { panel, list, badge, request });
    this.waiting = new Map();
    this.enabled = false;
    this.baseTitle = document.title;
    badge.addEventListener("click", () => this.open());
    close.addEventListener("click", () => this.hide());
    acceptAll.addEventListener("click", () => this.act("lobby.accept_all", {}));
    rejectAll.addEventListener("click", () => this.act("lobby.reject_all", {}));
    list.addEventListener("click", (event) => {
      const button = event.target.closest("button");
      const li = button && button.closest("li[data-participant-id]");
      if (!li) return;
      const id = Number(li.dataset.participantId);
      if (button.classList.contains("lobby-accept")) this.act("lobby.accept", { participant_id: id }, button);
      if (button.classList.contains("lobby-reject")) this.act("lobby.reject", { participant_id: id }, button);
    });
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.hide();
    });
  }

  // Only organizers see the lobby; `people` is the snapshot's list.
  reset(enabled, people = []) {
    this.enabled = enabled;
    this.waiting.clear();
    this.list.replaceChildren();
    for (const person of people) this.add(person, { quiet: true });
    this.refresh();
    if (this.waiting.size) this.open({ focus: false });
  }

  // Promoted or demoted while in the room (a new organizer is then sent lobby.request
  // for each person already waiting).
  setEnabled(enabled) {
    if (enabled === this.enabled) return;
    if (enabled) {
      this.enabled = true;
      this.refresh();
    } else {
      this.reset(false);
    }
  }

  // The server sends lobby.request only to organizers: one arriving makes us one.
  add(person, { quiet = false } = {}) {
    this.enabled = true;
    const isNew = !this.waiting.has(person.id);
    this.waiting.set(person.id, person);
    let li = this.list.querySelector(`li[data-participant-id="${person.id}"]`);
    if (!li) {
      li = el("li", "lobby__person");
      li.dataset.participantId = String(person.id);
      const name = el("span", "lobby__name");
      const accept = el("button", "button button--small button--primary lobby-accept", gettext("Accept"));
      const reject = el("button", "button button--small lobby-reject", gettext("Reject"));
      accept.type = reject.type = "button";
      li.append(name, accept, reject);
      this.list.append(li);
    }
    li.querySelector(".lobby__name").textContent = person.name;
    li.querySelector(".lobby-accept").setAttribute("aria-label", fmt(gettext("Accept %s"), [person.name]));
    li.querySelector(".lobby-reject").setAttribute("aria-label", fmt(gettext("Reject %s"), [person.name]));
    this.refresh();
    if (isNew && !quiet) {
      chime();
      this.open({ focus: false });
    }
  }

  remove(id) {
    this.waiting.delete(id);
    this.list.querySelector(`li[data-participant-id="${id}"]`)?.remove();
    this.refresh();
    if (!this.waiting.size) this.hide();
  }

  refresh() {
    const count = this.enabled ? this.waiting.size : 0;
    this.badge.hidden = count === 0;
    this.badge.dataset.count = String(count);
    this.badge.querySelector(".lobby-badge__count").textContent = String(count);
    this.badge.setAttribute("aria-label", fmt(gettext("People waiting in the lobby: %s"), [count]));
    document.title = count ? `(${count}) ${this.baseTitle}` : this.baseTitle;
    if (!this.enabled) this.hide();
  }

  open({ focus = true } = {}) {
    if (!this.enabled || !this.waiting.size) return;
    this.panel.hidden = false;
    if (focus) this.panel.querySelector(".lobby-accept, #lobby-accept-all")?.focus();
  }

  hide() {
    this.panel.hidden = true;
  }

  async act(type, body, button) {
    if (button) button.disabled = true;
    try {
      await this.request(type, body);
    } catch (error) {
      notice(describeError(error), { kind: "error" });
    } finally {
      if (button) button.disabled = false;
    }
  }
}

// The feature's hooks (features.js): the snapshot's list, lobby.request and lobby.removed.
export function setup(room) {
  const $ = (id) => document.getElementById(id);
  const lobby = new LobbyPanel({
    panel: $("lobby-panel"),
    list: $("lobby-list"),
    badge: $("lobby-badge"),
    acceptAll: $("lobby-accept-all"),
    rejectAll: $("lobby-reject-all"),
    close: $("lobby-close"),
    request: room.request,
  });
  return {
    snapshot: (people, snapshot) => lobby.reset(snapshot.self.role === "organizer", people || []),
    onEvent: (type, body) => {
      if (type === "lobby.request") lobby.add(body);
      else if (type === "lobby.removed") lobby.remove(body.participant_id);
    },
    setSelf: (self) => lobby.setEnabled(self.role === "organizer"),
    close: () => lobby.reset(false),
    get state() {
      return [...lobby.waiting.keys()];
    },
  };
}
