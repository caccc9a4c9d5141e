// Small DOM helpers of the room: icons from the page's SVG sprite, labels, the
// notice line and a confirmation dialog that tests and keyboards can drive.

const SVG = "http://www.w3.org/2000/svg";

export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS(SVG, "use");
  use.setAttribute("href", `#i-${name}`);
  svg.append(use);
  return svg;
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

export function roleLabel(role) {
  return { organizer: gettext("Organizer"), presenter: gettext("Presenter"), participant: gettext("Participant") }[role] || role;
}

let noticeTimer = 0;

// A message in the room's alert line (#room-notice), e.g. "Ada is already sharing".
export function notice(text, { kind = "warning", timeoutMs = 6000 } = {}) {
  const box = document.getElementById("room-notice");
  if (!box) return;
  box.querySelector(".room-notice__text").textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(noticeTimer);
  if (timeoutMs) noticeTimer = setTimeout(() => (box.hidden = true), timeoutMs);
}

export function hideNotice() {
  const box = document.getElementById("room-notice");
  if (box) box.hidden = true;
}

// Resolves true when the person presses #confirm-ok in the #confirm-dialog.
export function confirmAction(message, okLabel) {
  const dialog = document.getElementById("confirm-dialog");
  if (!dialog || typeof dialog.showModal !== "function") return Promise.resolve(window.confirm(message));
  dialog.querySelector("#confirm-message").textContent = message;
  dialog.querySelector("#confirm-ok").textContent = okLabel || gettext("OK");
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    dialog.querySelector("#confirm-cancel").focus();
  });
}

// Error codes of the protocol, said to people.
export function describeError(error) {
  const code = error && error.code;
  const messages = {
    forbidden: gettext("You are not allowed to do this."),
    rate_limited: gettext("Too fast. Wait a moment and try again."),
    not_found: gettext("This person is no longer here."),
    disconnected: gettext("Not connected. Wait until the connection is back."),
    timeout: gettext("The server did not answer. Try again."),
  };
  return messages[code] || (error && error.message) || gettext("Something went wrong.");
}
