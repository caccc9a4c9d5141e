// Small DOM helpers of the Settings, Statistics and Info dialogs (settings.js,
// stats.js), which the room loads on first use.
// Plain ES module, no build step. Text goes through gettext() from Django's /jsi18n/ catalog.

// Late-bound so the catalog may load after this module; identity when it is missing
// (a page without /jsi18n/ still works, in English).
function gettext(text) {
  return typeof window.gettext === "function" ? window.gettext(text) : text;
}

export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "className") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

// Opens a <dialog> as a modal (focus stays inside, Esc closes); any other element is shown.
export function showPanel(root) {
  if (typeof root.showModal === "function") {
    if (!root.open) root.showModal();
  } else {
    root.hidden = false;
  }
}

export function hidePanel(root) {
  if (typeof root.close === "function" && "open" in root) {
    if (root.open) root.close();
  } else {
    root.hidden = true;
  }
}

export function isPanelOpen(root) {
  return "open" in root ? root.open : !root.hidden;
}

export function panelHeader(root, id, title, onClose = () => hidePanel(root)) {
  return element(
    "header",
    { className: "rp-header" },
    element("h2", { id, className: "rp-title", text: title }),
    element("button", {
      type: "button",
      className: "rp-close",
      "aria-label": gettext("Close"),
      title: gettext("Close"),
      text: "✕",
      onclick: onClose,
    }),
  );
}
