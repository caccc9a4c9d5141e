// "Copy" buttons: any element with data-copy="text to copy".
import { showToast } from "./ui.js";

function legacyCopy(text) {
  // For browsers without the async clipboard (or pages served over plain HTTP).
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.top = "0";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  let copied = false;
  try {
    copied = document.execCommand("copy");
  } catch {
    copied = false;
  }
  area.remove();
  return copied;
}

export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Permission refused: fall through to the older way.
    }
  }
  return legacyCopy(text);
}

function flash(button, label) {
  if (!button.dataset.label) button.dataset.label = button.textContent;
  button.textContent = label;
  button.classList.add("is-copied");
  setTimeout(() => {
    button.textContent = button.dataset.label;
    button.classList.remove("is-copied");
  }, 2000);
}

export function bindCopyButtons(root = document) {
  root.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    event.preventDefault();
    const text = button.dataset.copy;
    if (await copyText(text)) {
      flash(button, gettext("Copied!"));
      showToast(gettext("Link copied to the clipboard."));
    } else {
      // Last resort: let the person copy it by hand.
      window.prompt(gettext("Copy this link:"), text);
    }
  });
}
