// The participants panel: everyone in the room with role badge and states, and for
// organizers, next to each name, *Change Role* (the user guide's words) and a menu
// (microphone/camera/chat rights, remove, and ban where the meeting moderates
// participants). The server decides every action; refusals are shown, the list
// follows its events. A feature of the room (features.js), loaded with its markup when
// the panel is first opened; the count on the People button is the core's.
import { confirmAction, describeError, el, icon, notice, roleLabel } from "./dom.js";
import { fmt } from "../ui.js";

const ROLES = ["organizer", "presenter", "participant"];

// What each role may do, under its name in the Change Role menu (F9).
const ROLE_HINTS = {
  organizer: () => gettext("Full control: moderation, the lobby and every feature"),
  presenter: () => gettext("Shares screen and documents, runs polls, answers remote control"),
  participant: () => gettext("Chat, reactions and votes; may ask for remote control"),
};

export class ParticipantsPanel {
  // self() is the own participant object (role and creator flag can change);
  // meeting() the meeting's settings (moderate_participants, lobby_enabled).
  constructor({ list, selfId, self, meeting = () => ({}), request }) {
    Object.assign(this, { list, selfId, self, meeting, request });
    this.items = new Map();
    list.addEventListener("click", (event) => this.onClick(event));
    list.addEventListener("keydown", (event) => this.onKeydown(event));
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
    // The name and its states, and under them the role (with Change Role for organizers).
    const main = el("span", "person__main");
    const line = el("span", "person__line");
    const name = el("span", "person__name");
    const states = el("span", "person__states");
    line.append(name, states);
    const roleLine = el("span", "person__role");
    const badge = el("span", "badge");
    roleLine.append(badge);
    main.append(line, roleLine);
    root.append(avatar, main);
    const item = { id, root, avatar, name, states, badge, roleLine, toggle: null, menu: null, roleButton: null, roles: null };
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
    if (!item.roles) this.buildRoles(item, person);
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
      item.menu.append(
        this.actionButton("action-mute-mic"),
        this.actionButton("action-camera-off"),
        this.actionButton("action-chat-off"),
        this.actionButton("action-kick button--danger"),
        this.actionButton("action-ban button--danger"),
      );
      item.root.querySelector(".person__main").after(item.toggle);
      item.root.append(item.menu);
    }
    item.toggle.setAttribute("aria-label", fmt(gettext("Actions for %s"), [person.name]));
    item.toggle.title = gettext("Actions");
    item.roleButton.setAttribute("aria-label", fmt(gettext("Change Role of %s"), [person.name]));
    item.roleButton.dataset.current = person.role;
    for (const choice of item.roles.querySelectorAll(".person__role-choice")) {
      choice.setAttribute("aria-checked", String(choice.dataset.role === person.role));
    }
    this.label(item, ".action-mute-mic", person.mic_allowed !== false, gettext("Turn off microphone"), gettext("Allow microphone"));
    this.label(item, ".action-camera-off", person.camera_allowed !== false, gettext("Turn off camera"), gettext("Allow camera"));
    this.label(item, ".action-chat-off", person.chat_allowed !== false, gettext("Turn off chat"), gettext("Allow chat"));
    item.menu.querySelector(".action-kick").textContent = gettext("Remove from meeting");
    const ban = item.menu.querySelector(".action-ban");
    ban.textContent = gettext("Ban from meeting");
    // Only a meeting that moderates participants bans (F11); elsewhere a removed person may come back.
    ban.hidden = !this.meeting().moderate_participants;
    item.name.dataset.name = person.name;
  }

  // *Change Role* beside the badge, and its menu of the three roles.
  buildRoles(item, person) {
    const rolesId = `person-roles-${person.id}`;
    item.roleButton = el("button", "button button--small button--ghost person__change-role", gettext("Change Role"));
    item.roleButton.type = "button";
    item.roleButton.setAttribute("aria-haspopup", "menu");
    item.roleButton.setAttribute("aria-expanded", "false");
    item.roleButton.setAttribute("aria-controls", rolesId);
    item.roles = el("div", "person__roles");
    item.roles.id = rolesId;
    item.roles.setAttribute("role", "menu");
    item.roles.hidden = true;
    for (const role of ROLES) {
      const choice = el("button", "person__role-choice");
      choice.type = "button";
      choice.dataset.role = role;
      choice.setAttribute("role", "menuitemradio");
      choice.append(el("span", "person__role-name", roleLabel(role)), el("span", "person__role-hint", ROLE_HINTS[role]()));
      item.roles.append(choice);
    }
    item.roleLine.append(item.roleButton);
    item.root.append(item.roles);
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
    for (const part of ["toggle", "menu", "roleButton", "roles"]) {
      if (item[part]) item[part].remove();
      item[part] = null;
    }
  }

  // Closes every open menu but `except` (a menu or a roles menu).
  closeMenus(except) {
    for (const item of this.items.values()) {
      if (item.menu && item.menu !== except) {
        item.menu.hidden = true;
        item.toggle.setAttribute("aria-expanded", "false");
      }
      if (item.roles && item.roles !== except) {
        item.roles.hidden = true;
        item.roleButton.setAttribute("aria-expanded", "false");
      }
    }
  }

  // Escape closes an open menu, and gives the focus back to its button, before the panel.
  onKeydown(event) {
    const item = event.key === "Escape" ? this.itemOf(event.target) : null;
    const open = item && [[item.menu, item.toggle], [item.roles, item.roleButton]].find(([menu]) => menu && !menu.hidden);
    if (!open) return;
    event.stopPropagation();
    this.closeMenus();
    open[1].focus();
  }

  itemOf(node) {
    const li = node.closest("li[data-participant-id]");
    return li ? this.items.get(Number(li.dataset.participantId)) : null;
  }

  async onClick(event) {
    const button = event.target.closest("button");
    const item = button && this.itemOf(button);
    if (!item) return;
    if (button === item.toggle || button === item.roleButton) {
      const [toggle, menu] = button === item.toggle ? [item.toggle, item.menu] : [item.roleButton, item.roles];
      const open = menu.hidden;
      this.closeMenus(menu);
      menu.hidden = !open;
      toggle.setAttribute("aria-expanded", String(open));
      if (open) (menu.querySelector('[aria-checked="true"]') || menu.querySelector("button:not([hidden])")).focus();
      return;
    }
    const id = item.id;
    if (button.classList.contains("person__role-choice")) {
      this.changeRole(item, button.dataset.role);
      return;
    }
    const allowed = button.dataset.allowed !== "true"; // the button flips the right
    if (button.classList.contains("action-mute-mic")) this.act("moderate.media", { participant_id: id, kind: "mic", allowed });
    else if (button.classList.contains("action-camera-off")) this.act("moderate.media", { participant_id: id, kind: "camera", allowed });
    else if (button.classList.contains("action-chat-off")) this.act("moderate.chat", { participant_id: id, allowed });
    else if (button.classList.contains("action-kick")) this.confirmRemoval(item, { ban: false });
    else if (button.classList.contains("action-ban")) this.confirmRemoval(item, { ban: true });
  }

  changeRole(item, role) {
    item.roles.hidden = true;
    item.roleButton.setAttribute("aria-expanded", "false");
    item.roleButton.focus();
    if (role !== item.roleButton.dataset.current) this.act("role.change", { participant_id: item.id, role });
  }

  // Remove (kick) or ban, each said for what it is before it is confirmed.
  async confirmRemoval(item, { ban }) {
    const name = item.name.dataset.name || "";
    const meeting = this.meeting();
    let message;
    if (ban) message = fmt(gettext("Ban %s from this meeting? They leave now and cannot come back into it."), [name]);
    else if (meeting.lobby_enabled) message = fmt(gettext("Remove %s from the meeting? They may ask to come back; an organizer lets them in from the lobby."), [name]);
    else message = fmt(gettext("Remove %s from the meeting? They may come back with their link."), [name]);
    if (!(await confirmAction(message, ban ? gettext("Ban") : gettext("Remove")))) return;
    this.act("moderate.kick", { participant_id: item.id, ban });
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
    meeting: () => room.meeting,
    request: room.request,
  });
  const render = () => panel.render(room.people);
  render();
  return { render };
}
