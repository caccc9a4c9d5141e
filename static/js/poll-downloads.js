// "Download PDF" of a poll's results: ask for the PDF (the worker renders it), show
// "Rendering…", follow its state every second, then download it. Without JavaScript
// the form posts and the results page offers the link once the PDF is ready.
const POLL_EVERY_MS = 1000;
const GIVE_UP_AFTER_MS = 3 * 60 * 1000;

async function pdfState(url, init = {}) {
  const response = await fetch(url, { ...init, headers: { Accept: "application/json" }, credentials: "same-origin" });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.message || gettext("The PDF cannot be made now."));
  return body;
}

function showStatus(form, text, isError = false) {
  const status = form.querySelector(".pdf-download__status");
  status.textContent = text;
  status.classList.toggle("pdf-download__status--error", isError);
}

async function follow(form) {
  const button = form.querySelector("button");
  const label = button.textContent;
  button.disabled = true;
  button.textContent = button.dataset.textBusy;
  showStatus(form, "");
  try {
    let state = await pdfState(form.action, { method: "POST", body: new FormData(form) });
    const deadline = Date.now() + GIVE_UP_AFTER_MS;
    while (!state.url && state.status === "rendering" && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, POLL_EVERY_MS));
      state = await pdfState(form.action);
    }
    if (state.url) {
      window.location.assign(state.url);
    } else if (state.status === "failed") {
      showStatus(form, state.error || gettext("The PDF could not be made. Try again."), true);
    } else {
      showStatus(form, gettext("The PDF is taking long. Try again in a moment."), true);
    }
  } catch (error) {
    showStatus(form, error.message, true);
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

document.addEventListener("submit", (event) => {
  const form = event.target.closest("form.pdf-download");
  if (!form) return;
  event.preventDefault();
  if (!form.querySelector("button").disabled) follow(form);
});
