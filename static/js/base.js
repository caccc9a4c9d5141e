// Loaded on every page: time zone cookie, copy buttons, confirmations.
import { bindCopyButtons } from "./copy.js";

// The server shows and reads dates in the browser's time zone (see rooms.views.browser_timezone).
try {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && /^[A-Za-z0-9_+\-/]{1,63}$/.test(zone)) {
    document.cookie = `parley_tz=${zone}; path=/; max-age=31536000; SameSite=Lax`;
  }
} catch {
  // No Intl support: the server's time zone is used.
}

bindCopyButtons();

// <form data-confirm="Question?"> asks before submitting (End meeting, …).
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});

// Close the user menu when clicking elsewhere.
document.addEventListener("click", (event) => {
  for (const menu of document.querySelectorAll("details.user-menu[open]")) {
    if (!menu.contains(event.target)) menu.open = false;
  }
});

// The language switch: the buttons are type="button" so that a page's own form
// keeps the first submit button; a click sets the language and submits.
for (const button of document.querySelectorAll(".language-choice")) {
  button.addEventListener("click", () => {
    const form = button.closest("form");
    form.querySelector('input[type="hidden"][name="language"]').value = button.dataset.language;
    form.submit();
  });
}
