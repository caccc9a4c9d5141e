// The Shared Documents Repository: upload with a progress bar (XMLHttpRequest upload
// progress), then the render's progress by asking the status URL every second until
// the document is ready or failed; delete after a confirmation; arrow keys in the
// preview. Without JavaScript the forms post and the pages reload.
const POLL_EVERY_MS = 1000;
const STATUS_TEXT = {
  processing: gettext("Processing"),
  ready: gettext("Ready"),
  failed: gettext("Failed"),
};

function csrfToken(form) {
  return form.querySelector("input[name=csrfmiddlewaretoken]").value;
}

function urlFor(template, placeholder, id) {
  return template.replace(placeholder, String(id));
}

function formatSize(bytes) {
  if (bytes < 1024) return interpolate(gettext("%s bytes"), [bytes]);
  if (bytes < 1024 * 1024) return interpolate(gettext("%s KB"), [(bytes / 1024).toFixed(1)]);
  return interpolate(gettext("%s MB"), [(bytes / (1024 * 1024)).toFixed(1)]);
}

function pagesText(count) {
  return interpolate(ngettext("%s page", "%s pages", count), [count]);
}

// --- A document item of the list, kept in step with its status JSON ---------------------

function showState(item, documentJson) {
  item.dataset.status = documentJson.status;
  item.className = `document document--${documentJson.status}`;
  const progress = item.querySelector(".document__progress");
  const progressText = item.querySelector(".document__progress-text");
  const processing = documentJson.status === "processing";
  item.querySelector(".document__badge").textContent = STATUS_TEXT[documentJson.status] || documentJson.status;
  progress.max = Math.max(documentJson.page_count, 1);
  progress.value = documentJson.pages_rendered;
  progress.hidden = !processing;
  progressText.textContent = processing
    ? interpolate(gettext("%(done)s of %(total)s pages ready"), { done: documentJson.pages_rendered, total: documentJson.page_count }, true)
    : "";
  item.querySelector(".document__error").textContent = documentJson.status === "failed" ? documentJson.error : "";
  const pages = item.querySelector(".document__pages");
  if (pages) pages.textContent = pagesText(documentJson.page_count);
  if (documentJson.thumbnail_url && !item.querySelector(".document__thumb img")) {
    const thumb = item.querySelector(".document__thumb");
    const image = document.createElement("img");
    image.src = documentJson.thumbnail_url;
    image.alt = "";
    image.width = 120;
    thumb.replaceChildren(image);
  }
}

async function fetchStatus(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(String(response.status));
  return response.json();
}

// Follow one document until its render is over; onUpdate gets each status.
async function follow(url, onUpdate) {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, POLL_EVERY_MS));
    let documentJson;
    try {
      documentJson = await fetchStatus(url);
    } catch {
      continue; // a hiccup of the network or the server: ask again
    }
    if (documentJson === null) return null;
    onUpdate(documentJson);
    if (documentJson.status !== "processing") return documentJson;
  }
}

function followItem(item) {
  follow(item.dataset.statusUrl, (documentJson) => showState(item, documentJson)).then((last) => {
    if (last === null) item.remove();
  });
}

// --- Upload -------------------------------------------------------------------------------

function newItem(form, documentJson) {
  const template = document.getElementById("document-template");
  const item = template.content.firstElementChild.cloneNode(true);
  const placeholder = form.dataset.urlPlaceholder;
  const detailUrl = urlFor(form.dataset.itemUrl, placeholder, documentJson.id);
  item.id = `document-${documentJson.id}`;
  item.dataset.id = String(documentJson.id);
  item.dataset.statusUrl = urlFor(form.dataset.statusUrl, placeholder, documentJson.id);
  item.querySelector(".document__thumb").href = detailUrl;
  item.querySelector(".document__name").href = detailUrl;
  item.querySelector(".document__name").textContent = documentJson.name;
  item.querySelector(".document__preview").href = detailUrl;
  item.querySelector(".document__delete").action = urlFor(form.dataset.deleteUrl, placeholder, documentJson.id);
  item.querySelector(".document__size").textContent = formatSize(documentJson.size);
  showState(item, documentJson);
  return item;
}

function showUploadError(form, text) {
  const error = form.querySelector("#upload-error");
  error.textContent = text;
  error.hidden = !text;
}

function showUploadProgress(form, fraction, text) {
  const box = form.querySelector(".upload-form__progress");
  box.hidden = fraction === null;
  form.querySelector("#upload-progress").value = Math.round((fraction || 0) * 100);
  form.querySelector("#upload-progress-text").textContent = text;
}

function send(form, file) {
  return new Promise((resolve) => {
    const request = new XMLHttpRequest();
    const body = new FormData();
    body.append("csrfmiddlewaretoken", csrfToken(form));
    body.append("file", file, file.name);
    request.open("POST", form.action);
    request.setRequestHeader("Accept", "application/json");
    request.setRequestHeader("X-CSRFToken", csrfToken(form));
    request.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      const percent = Math.round((event.loaded / event.total) * 100);
      showUploadProgress(form, event.loaded / event.total, interpolate(gettext("Uploading… %s"), [`${percent}%`]));
    });
    request.upload.addEventListener("load", () => showUploadProgress(form, 1, gettext("Checking the PDF…")));
    request.addEventListener("load", () => {
      let answer = {};
      try {
        answer = JSON.parse(request.responseText);
      } catch {
        answer = {};
      }
      resolve({ status: request.status, answer });
    });
    request.addEventListener("error", () => resolve({ status: 0, answer: {} }));
    request.send(body);
  });
}

async function upload(form) {
  const input = form.querySelector("input[type=file]");
  const file = input.files[0];
  showUploadError(form, "");
  if (!file) {
    showUploadError(form, gettext("Choose a PDF file to upload."));
    return;
  }
  if (file.size > Number(form.dataset.maxBytes)) {
    showUploadError(form, form.dataset.tooLarge);
    return;
  }
  const button = form.querySelector("#upload-button");
  button.disabled = true;
  showUploadProgress(form, 0, gettext("Uploading…"));
  try {
    const { status, answer } = await send(form, file);
    if (answer.document) {
      const item = newItem(form, answer.document);
      document.getElementById("document-list").prepend(item);
      document.getElementById("documents-empty").hidden = true;
      form.reset();
      if (answer.document.status === "processing") followItem(item);
    } else {
      showUploadError(form, answer.error || (status === 0 ? gettext("The upload failed: check your connection and try again.") : gettext("The upload failed. Try again.")));
    }
  } finally {
    showUploadProgress(form, null, "");
    button.disabled = false;
  }
}

// --- Delete --------------------------------------------------------------------------------

async function remove(form) {
  const item = form.closest(".document");
  const name = form.dataset.name || item?.querySelector(".document__name").textContent || "";
  if (!window.confirm(interpolate(gettext("Delete “%s” from your documents?"), [name]))) return;
  const response = await fetch(form.action, {
    method: "POST",
    body: new FormData(form),
    headers: { Accept: "application/json", "X-CSRFToken": csrfToken(form) },
    credentials: "same-origin",
  }).catch(() => null);
  if (!response || !response.ok) {
    window.alert(gettext("The document could not be deleted. Try again."));
    return;
  }
  if (form.dataset.after) {
    window.location.assign(form.dataset.after);
    return;
  }
  item.remove();
  const list = document.getElementById("document-list");
  if (list && !list.children.length) document.getElementById("documents-empty").hidden = false;
}

// --- Wiring ----------------------------------------------------------------------------------

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.id === "document-upload") {
    event.preventDefault();
    upload(form);
  } else if (form.classList.contains("document__delete")) {
    event.preventDefault();
    remove(form);
  }
});

for (const item of document.querySelectorAll(".document[data-status=processing]")) followItem(item);

const preview = document.getElementById("document-preview");
if (preview && preview.dataset.status === "processing") {
  // Show the pages once they are ready (the page reloads with them).
  follow(preview.dataset.statusUrl, (documentJson) => {
    const progress = preview.querySelector(".document__progress");
    progress.max = Math.max(documentJson.page_count, 1);
    progress.value = documentJson.pages_rendered;
    preview.querySelector(".document__progress-text").textContent = interpolate(
      gettext("%(done)s of %(total)s pages ready"),
      { done: documentJson.pages_rendered, total: documentJson.page_count },
      true,
    );
  }).then((last) => {
    if (last) window.location.reload();
  });
}

document.addEventListener("keydown", (event) => {
  if (!preview || event.target.closest("input, textarea, select")) return;
  const link = event.key === "ArrowLeft" ? document.getElementById("page-previous") : event.key === "ArrowRight" ? document.getElementById("page-next") : null;
  if (link) window.location.assign(link.href);
});
