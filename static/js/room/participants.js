// The participants panel: everyone in the room with role badge and states, and for
// organizers a menu per person (change role, microphone/camera/chat rights, kick).
// The server decides every action; refusals are shown, the list follows its events.
// A feature of the room (features.js), loaded with its markup when the panel is first
// opened; the count on the People button is the core's.
import { confirmAction, describeError, el, icon, notice, roleLabel } from "./dom.js";
import { fmt } from "../ui.js";

const ROLES = ["organizer", "presenter", "participant"];

export class ParticipantsPanel {
  // self() is the own participant object (role and creator flag can change).
  constructor({ list, selfId, self, request }) {
    Object.assign(this, { list, selfId, self, request });
    this.items = new Map();
    list.addEventListener("click", (event) => this.onClick(event));
    list.addEventListener("change", (event) => this.onChange(event));
    list.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.closeMenus();
    });
  }

  canModerate(person) {
    const me = this.self();
    if (!me || me.role !== "organizer" || person.id === this.selfId) return false;
    // Nobody but the creator touches the creator.
    return !person.is_creator || me.is_creator;
  }

  // Renders the whole roster (own participant included), keeping open menus open.
  render(people) {
    const seen = new Set();
    for (const person of people) {
      seen.add(person.id);
      const item = this.items.get(person.id) || this.build(person.id);
      this.update(item, person);
      this.list.append(item.root); // keeps the given order
    }
    for (const id of [...this.items.keys()]) if (!seen.has(id)) this.remove(id);
  }

  build(id) {
    const root = el("li", "person");
    root.dataset.participantId = String(id);
    const avatar = el("span", "avatar");
    avatar.setAttribute("aria-hidden", "true");
    const main = el("span", "person__main");
    const name = el("span", "person__name");
    const states = el("span", "person__states");
    main.append(name, states);
    const badge = el("span", "badge");
    root.append(avatar, main, badge);
    const item = { id, root, avatar, name, states, badge, toggle: null, menu: null };
    this.items.set(id, item);
    return item;
  }

  update(item, person) {
    const isSelf = person.id === this.selfId;
    item.root.dataset.role = person.role;
    item.root.dataset.connection = person.connection || "online";
    item.avatar.textContent = (person.name || "?").trim().charAt(0).toUpperCase();
    item.name.textContent = isSelf ? `${person.name} (${gettext("you")})` : person.name;
    item.badge.className = `badge ${person.is_creator ? "badge--creator" : "badge--role"}`;
    item.badge.textContent = person.is_creator ? `${roleLabel(person.role)} · ${gettext("Creator")}` : roleLabel(person.role);
    if (person.is_creator) item.badge.dataset.creator = "true";
    item.states.replaceChildren(...this.stateIcons(person));
    if (this.canModerate(person)) this.ensureMenu(item, person);
    else this.dropMenu(item);
  }

  stateIcons(person) {
    const out = [];
    const add = (name, label) => {
      const wrap = el("span", "person__state");
      wrap.title = label;
      wrap.append(icon(name), el("span", "visually-hidden", label));
      out.push(wrap);
    };
    if (!person.mic) add("mic-off", person.mic_allowed === false ? gettext("Microphone turned off by an organizer") : gettext("Microphone off"));
    if (!person.camera) add("camera-off", person.camera_allowed === false ? gettext("Camera turned off by an organizer") : gettext("Camera off"));
    if (person.chat_allowed === false) add("chat-off", gettext("Chat turned off by an organizer"));
    if (person.connection === "reconnecting") out.push(el("span", "person__reconnecting", gettext("Reconnecting…")));
    return out;
  }

  ensureMenu(item, person) {
    if (!item.menu) {
      const menuId = `person-menu-${person.id}`;
      item.toggle = el("button", "button button--icon button--ghost person__menu-toggle");
      item.toggle.type = "button";
      item.toggle.setAttribute("aria-expanded", "false");
      item.toggle.setAttribute("aria-controls", menuId);
      item.toggle.append(icon("more"));
      item.menu = el("div", "person__menu");
      item.menu.id = menuId;
      item.menu.hidden = true;
      const label = el("label", "person__role-label", gettext("Role"));
      const select = el("select", "action-role");
      for (const role of ROLES) {
        const option = el("option", "", roleLabel(role));
        option.value = role;
        select.append(option);
      }
      label.append(select);
      item.menu.append(
        label,
        this.actionButton("action-mute-mic"),
        this.actionButton("action-camera-off"),
        this.actionButton("action-chat-off"),
        this.actionButton("action-kick button--danger"),
      );
      item.root.append(item.toggle, item.menu);
    }
    item.toggle.setAttribute("aria-label", fmt(gettext("Actions for %s"), [person.name]));
    item.toggle.title = gettext("Actions");
    const select = item.menu.querySelector(".action-role");
    if (document.activeElement !== select) select.value = person.role;
    select.dataset.current = person.role;
    select.setAttribute("aria-label", fmt(gettext("Role of %s"), [person.name]));
    this.label(item, ".action-mute-mic", person.mic_allowed !== false, gettext("Turn off microphone"), gettext("Allow microphone"));
    this.label(item, ".action-camera-off", person.camera_allowed !== false, gettext("Turn off camera"), gettext("Allow camera"));
    this.label(item, ".action-chat-off", person.chat_allowed !== false, gettext("Turn off chat"), gettext("Allow chat"));
    item.menu.querySelector(".action-kick").textContent = gettext("Remove from meeting");
    item.name.dataset.name = person.name;
  }

  actionButton(className) {
    const button = el("button", `button button--small ${className}`);
    button.type = "button";
    return button;
  }

  label(item, selector, allowed, whenAllowed, whenRefused) {
    const button = item.menu.querySelector(selector);
    button.dataset.allowed = allowed ? "true" : "false";
    button.textContent = allowed ? whenAllowed : whenRefused;
  }

  dropMenu(item) {
    if (!item.menu) return;
    item.toggle.remove();
    item.menu.remove();
    item.toggle = null;
    item.menu = null;
  }

  closeMenus(except) {
    for (const item of this.items.values()) {
      if (!item.menu || item === except) continue;
      item.menu.hidden = true;
      item.toggle.setAttribute("aria-expanded", "false");
    }
  }

  itemOf(node) {
    const li = node.closest("li[data-participant-id]");
    return li ? this.items.get(Number(li.dataset.participantId)) : null;
  }

  async onClick(event) {
    const button = event.target.closest("button");
    const item = button && this.itemOf(button);
    if (!item) return;
    if (button === item.toggle) {
      const open = item.menu.hidden;
      this.closeMenus(item);
      item.menu.hidden = !open;
      item.toggle.setAttribute("aria-expanded", String(open));
      if (open) item.menu.querySelector(".action-role").focus();
      return;
    }
    const id = item.id;
    const allowed = button.dataset.allowed !== "true"; // the button flips the right
    if (button.classList.contains("action-mute-mic")) this.act("moderate.media", { participant_id: id, kind: "mic", allowed });
    else if (button.classList.contains("action-camera-off")) this.act("moderate.media", { participant_id: id, kind: "camera", allowed });
    else if (button.classList.contains("action-chat-off")) this.act("moderate.chat", { participant_id: id, allowed });
    else if (button.classList.contains("action-kick")) {
      const name = item.name.dataset.name || "";
      if (await confirmAction(fmt(gettext("Remove %s from the meeting?"), [name]), gettext("Remove"))) {
        this.act("moderate.kick", { participant_id: id });
      }
    }
  }

  onChange(event) {
    const select = event.target.closest(".action-role");
    const item = select && this.itemOf(select);
    if (!item || select.value === select.dataset.current) return;
    this.act("role.change", { participant_id: item.id, role: select.value }).then((ok) => {
      if (!ok) select.value = select.dataset.current;
    });
  }

  async act(type, body) {
    try {
      await this.request(type, body);
      return true;
    } catch (error) {
      notice(describeError(error), { kind: "error" });
      return false;
    }
  }

  remove(id) {
    const item = this.items.get(id);
    if (!item) return;
    item.root.remove();
    this.items.delete(id);
  }
}

// The feature's hooks (features.js): the core says when the roster changed.
export function setup(room) {
  const panel = new ParticipantsPanel({
    list: document.getElementById("participants-list"),
    selfId: room.selfId,
    self: () => room.self,
    request: room.request,
  });
  const render = () => panel.render(room.people);
  render();
  return { render };
}
