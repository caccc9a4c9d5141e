// The Remote control button of the control bar: usable or not, and why not. It is the
// core's, so that it says the right thing before remote.js (the requests, the panel,
// the controller's input) is loaded on first need; remote.js renders it from then on.

export const CONTROLLER_ROLES = new Set(["organizer", "presenter"]);
const REASON_SHOWN_MS = 5000;

export class RemoteButton {
  // `room()` → {self, others, connected}.
  constructor({ button, reason, selfId, room }) {
    Object.assign(this, { button, reason, selfId, room });
    this.reasonTimer = 0;
  }

  // Why the button cannot be used now, or "" when it can; `session` is the remote-control
  // session under way in the meeting (null: none).
  blockedReason(session = null) {
    const { self, others, connected } = this.room();
    if (!self || !connected) return gettext("Not connected. Wait until the connection is back.");
    if (session && session.requester_id !== this.selfId) return gettext("Remote control is already in use in this meeting.");
    if (session) return "";
    const available = others.some((p) => p.id !== this.selfId && CONTROLLER_ROLES.has(p.role) && p.connection === "online");
    return available ? "" : gettext("No organizer or presenter other than you is in the meeting to take control.");
  }

  render(session = null) {
    const blocked = this.blockedReason(session);
    const mine = Boolean(session) && session.requester_id === this.selfId;
    const label = mine ? gettext("Your remote control request") : gettext("Request remote control");
    this.button.setAttribute("aria-pressed", mine ? "true" : "false");
    this.button.title = blocked || label;
    this.button.setAttribute("aria-label", label);
    if (blocked) this.button.setAttribute("aria-disabled", "true");
    else this.button.removeAttribute("aria-disabled");
    this.reason.textContent = blocked;
    this.button.parentElement.dataset.blocked = blocked ? "true" : "false";
    if (!blocked) this.button.parentElement.dataset.open = "false";
  }

  // A disabled button still says why when pressed, also to touch and keyboard users.
  explain() {
    const holder = this.button.parentElement;
    holder.dataset.open = "true";
    clearTimeout(this.reasonTimer);
    this.reasonTimer = setTimeout(() => (holder.dataset.open = "false"), REASON_SHOWN_MS);
  }
}
