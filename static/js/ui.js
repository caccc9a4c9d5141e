// Small helpers shared by the page modules: translation and a status toast.
// gettext() and interpolate() are globals of Django's JavaScript catalog (/jsi18n/);
// strings are written as gettext("…") so that makemessages finds them.

// Without the catalog (it failed to load) the page still works, in English.
if (typeof window.gettext !== "function") window.gettext = (text) => text;

export function fmt(text, values) {
  if (typeof window.interpolate === "function") return window.interpolate(text, values);
  const rest = [...values];
  return text.replace(/%s/g, () => String(rest.shift()));
}

let toastTimer = 0;

// Shows a short message; the element is an aria-live region, so screen readers read it.
export function showToast(message) {
  const toast = document.getElementById("toast");
  if (!toast) return;
  toast.textContent = message;
  toast.classList.add("toast--visible");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    toast.classList.remove("toast--visible");
    toast.textContent = "";
  }, 4000);
}
