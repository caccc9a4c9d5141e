// The Documents panel of the meeting room (F6, F7), for those who may share: the
// caller's Shared Documents Repository (document.list), a double-click (or Enter, or
// the Share button) shows a document to everyone (presentation.start {kind: "pdf"}),
// a whiteboard on a blank or dotted page, an upload from inside the meeting
// through the repository's JSON endpoint, its render followed on the status URL, and
// a Preview of a document's pages (only to the caller) before sharing it.
// The room loads it the first time the Documents button is used (features.js), with
// its dialog (meetings/room/_documents.html).
import { fmt } from "../ui.js";
import { describeError, el } from "./dom.js";

const STATUS_EVERY_MS = 1000;

function sizeText(bytes) {
  if (bytes >= 1024 * 1024) return fmt(gettext("%s MB"), [(bytes / (1024 * 1024)).toFixed(1)]);
  return fmt(gettext("%s kB"), [Math.max(1, Math.round(bytes / 1024))]);
}

function pagesText(count) {
  return fmt(ngettext("%s page", "%s pages", count), [count]);
}

if (typeof window.ngettext !== "function") window.ngettext = (singular, plural, count) => (count === 1 ? singular : plural);

export class DocumentsPanel {
  // `button`: the Documents control; `dialog`: the panel (data-upload-url,
  // data-status-url with "/0/" for the id, data-repository-url, data-page-url with
  // "/0/pages/1.png" for a page); `onShared()` after a share.
  constructor({ button, dialog, request, onShared = () => {} }) {
    Object.assign(this, { button, dialog, request, onShared });
    this.urls = {
      upload: dialog.dataset.uploadUrl || "",
      status: dialog.dataset.statusUrl || "",
      repository: dialog.dataset.repositoryUrl || "",
      page: dialog.dataset.pageUrl || "",
    };
    this.previewing = null; // {document, page} while a preview is open
    this.documents = [];
    this.statusTimer = 0;
    this.uploading = null;
    this.allowed = false;
    this.build();
    this.bind();
  }

  // --- DOM ------------------------------------------------------------------------------

  build() {
    const body = this.dialog.querySelector(".documents-panel__body");
    this.error = el("p", "panel__error documents-panel__error");
    this.error.setAttribute("role", "alert");
    this.error.hidden = true;
    this.statusLine = el("p", "documents-panel__status");
    this.statusLine.setAttribute("role", "status");

    // The whiteboard: a template, then open.
    const board = el("fieldset", "documents-panel__whiteboard");
    board.append(el("legend", null, gettext("Whiteboard")));
    const choices = el("div", "documents-panel__templates");
    for (const [value, label] of [
      ["blank", gettext("Blank")],
      ["dotted", gettext("Dotted")],
    ]) {
      const option = el("label", "documents-panel__template");
      const radio = el("input");
      radio.type = "radio";
      radio.name = "whiteboard-template";
      radio.value = value;
      radio.checked = value === "blank";
      option.append(radio, el("span", null, label));
      choices.append(option);
    }
    this.whiteboardButton = el("button", "button button--small button--primary documents-panel__open-whiteboard", gettext("Open whiteboard"));
    this.whiteboardButton.type = "button";
    board.append(choices, this.whiteboardButton);

    // The repository: upload, list.
    const repository = el("section", "documents-panel__repository");
    repository.setAttribute("aria-labelledby", "documents-list-title");
    const head = el("div", "documents-panel__repository-head");
    const title = el("h3", "documents-panel__subtitle", gettext("Your documents"));
    title.id = "documents-list-title";
    head.append(title);
    if (this.urls.repository) {
      const link = el("a", "documents-panel__repository-link", gettext("Open the repository"));
      link.href = this.urls.repository;
      link.target = "_blank";
      link.rel = "noopener";
      head.append(link);
    }
    repository.append(head);
    if (this.urls.upload) {
      const upload = el("div", "documents-panel__upload");
      this.fileInput = el("input", "visually-hidden");
      this.fileInput.type = "file";
      this.fileInput.accept = "application/pdf,.pdf";
      this.fileInput.id = "documents-file";
      this.uploadButton = el("button", "button button--small documents-panel__upload-button", gettext("Upload a PDF"));
      this.uploadButton.type = "button";
      this.progress = el("progress", "documents-panel__progress");
      this.progress.max = 100;
      this.progress.hidden = true;
      this.progress.setAttribute("aria-label", gettext("Upload progress"));
      upload.append(this.fileInput, this.uploadButton, this.progress);
      repository.append(upload);
    }
    this.hint = el("p", "documents-panel__hint", gettext("Double-click a document (or press Enter on it) to show it to everyone."));
    this.list = el("ul", "documents-list");
    this.list.setAttribute("aria-labelledby", "documents-list-title");
    this.empty = el("p", "documents-panel__empty");
    this.empty.hidden = true;
    repository.append(this.hint, this.list, this.empty);
    if (!this.urls.upload && !this.urls.repository) repository.hidden = true;
    this.repository = repository;
    this.board = board;

    body.append(this.error, this.statusLine, board, repository, this.buildPreview());
  }

  // A document's pages, one at a time, seen only by the caller; Share from there.
  buildPreview() {
    const preview = el("section", "documents-preview");
    preview.hidden = true;
    preview.setAttribute("aria-labelledby", "documents-preview-title");
    const head = el("div", "documents-preview__head");
    this.previewBack = el("button", "button button--small button--ghost documents-preview__back", gettext("Back to your documents"));
    this.previewBack.type = "button";
    this.previewTitle = el("h3", "documents-panel__subtitle documents-preview__title");
    this.previewTitle.id = "documents-preview-title";
    head.append(this.previewBack, this.previewTitle);
    const pager = el("div", "documents-preview__pager");
    this.previewPrevious = el("button", "button button--small documents-preview__previous", gettext("Previous"));
    this.previewNext = el("button", "button button--small documents-preview__next", gettext("Next"));
    this.previewPrevious.type = this.previewNext.type = "button";
    this.previewPosition = el("span", "documents-preview__position");
    this.previewPosition.setAttribute("aria-live", "polite");
    this.previewShare = el("button", "button button--small button--primary documents-preview__share", gettext("Share"));
    this.previewShare.type = "button";
    pager.append(this.previewPrevious, this.previewPosition, this.previewNext, this.previewShare);
    const figure = el("figure", "documents-preview__page");
    this.previewImage = el("img", "documents-preview__image");
    this.previewImage.alt = "";
    figure.append(this.previewImage);
    preview.append(head, pager, figure);
    this.preview = preview;
    return preview;
  }

  // (The Documents button is the core's: it calls open.)
  bind() {
    this.dialog.querySelector(".documents-panel__close").addEventListener("click", () => this.dialog.close());
    this.dialog.addEventListener("close", () => {
      clearTimeout(this.statusTimer);
      this.closePreview({ focus: false });
      this.button.setAttribute("aria-expanded", "false");
    });
    this.whiteboardButton.addEventListener("click", () => {
      const chosen = this.dialog.querySelector("input[name=whiteboard-template]:checked");
      this.start({ kind: "whiteboard", template: chosen ? chosen.value : "blank" });
    });
    this.list.addEventListener("dblclick", (event) => {
      const item = event.target.closest(".document-item");
      if (item) this.share(Number(item.dataset.documentId));
    });
    this.list.addEventListener("keydown", (event) => {
      const item = event.target.closest(".document-item");
      if (event.key === "Enter" && item && event.target === item) {
        event.preventDefault();
        this.share(Number(item.dataset.documentId));
      }
    });
    this.list.addEventListener("click", (event) => {
      const action = event.target.closest(".document-item__share, .document-item__preview");
      if (!action) return;
      const id = Number(action.closest(".document-item").dataset.documentId);
      if (action.classList.contains("document-item__preview")) this.openPreview(id);
      else this.share(id);
    });
    this.previewBack.addEventListener("click", () => this.closePreview());
    this.previewPrevious.addEventListener("click", () => this.showPage(this.previewing.page - 1));
    this.previewNext.addEventListener("click", () => this.showPage(this.previewing.page + 1));
    this.previewShare.addEventListener("click", () => this.share(this.previewing.document.id));
    // The arrow keys turn the pages, as on the repository's preview page.
    this.preview.addEventListener("keydown", (event) => {
      if (event.key === "ArrowLeft") this.showPage(this.previewing.page - 1);
      else if (event.key === "ArrowRight") this.showPage(this.previewing.page + 1);
    });
    if (this.fileInput) {
      this.uploadButton.addEventListener("click", () => this.fileInput.click());
      this.fileInput.addEventListener("change", () => {
        const file = this.fileInput.files && this.fileInput.files[0];
        if (file) this.upload(file);
        this.fileInput.value = "";
      });
    }
  }

  // --- Visibility -----------------------------------------------------------------------

  // Those who may share see the control (the share policy and their role decide).
  setAllowed(allowed) {
    this.allowed = allowed;
    this.button.hidden = !allowed;
    this.button.disabled = !allowed;
    if (!allowed && this.dialog.open) this.dialog.close();
  }

  open() {
    if (!this.allowed) return;
    this.showError("");
    if (!this.dialog.open) this.dialog.showModal();
    this.button.setAttribute("aria-expanded", "true");
    this.refresh();
  }

  showError(text) {
    this.error.textContent = text;
    this.error.hidden = !text;
  }

  // A document's new state (document.updated), should the room relay it.
  onEvent(type, body) {
    if (type !== "document.updated" || !body || !this.documents.some((one) => one.id === body.id)) return;
    this.documents = this.documents.map((one) => (one.id === body.id ? body : one));
    this.renderList();
  }

  // --- The list -------------------------------------------------------------------------

  async refresh() {
    if (this.list.closest("[hidden]")) return;
    this.statusLine.textContent = gettext("Loading your documents…");
    try {
      const { documents } = await this.request("document.list", {});
      this.documents = documents || [];
      this.statusLine.textContent = "";
      this.renderList();
      this.followProcessing();
    } catch (error) {
      this.statusLine.textContent = "";
      this.showError(describeError(error));
    }
  }

  renderList() {
    const focused = document.activeElement && document.activeElement.closest(".document-item");
    const focusedId = focused ? focused.dataset.documentId : null;
    const items = this.documents.map((document) => this.item(document));
    this.list.replaceChildren(...items);
    this.empty.hidden = this.documents.length > 0;
    this.empty.textContent = this.urls.upload ? gettext("No documents yet. Upload a PDF to share it.") : gettext("You have no documents.");
    if (focusedId) this.list.querySelector(`.document-item[data-document-id="${CSS.escape(focusedId)}"]`)?.focus();
  }

  item(document) {
    const ready = document.status === "ready";
    const item = el("li", "document-item");
    item.dataset.documentId = String(document.id);
    item.dataset.status = document.status;
    item.tabIndex = ready ? 0 : -1;
    const thumb = el("span", "document-item__thumb");
    if (document.thumbnail_url) {
      const image = el("img");
      image.src = document.thumbnail_url;
      image.alt = "";
      image.loading = "lazy";
      thumb.append(image);
    }
    const text = el("span", "document-item__text");
    const name = el("span", "document-item__name", document.name);
    name.title = document.name;
    text.append(name, el("span", "document-item__meta", this.describe(document)));
    item.append(thumb, text);
    if (ready) {
      if (this.urls.page) {
        const preview = el("button", "button button--small document-item__preview", gettext("Preview"));
        preview.type = "button";
        preview.setAttribute("aria-label", fmt(gettext("Preview “%s”"), [document.name]));
        item.append(preview);
      }
      const share = el("button", "button button--small button--primary document-item__share", gettext("Share"));
      share.type = "button";
      share.setAttribute("aria-label", fmt(gettext("Share “%s”"), [document.name]));
      item.append(share);
      item.setAttribute("aria-label", fmt(gettext("%s, %s"), [document.name, this.describe(document)]));
    }
    return item;
  }

  describe(document) {
    if (document.status === "ready") return `${pagesText(document.page_count)} · ${sizeText(document.size)}`;
    if (document.status === "failed") return document.error || gettext("This document could not be prepared.");
    return fmt(gettext("Preparing pages… %s of %s"), [document.pages_rendered || 0, document.page_count || "?"]);
  }

  // --- Preview --------------------------------------------------------------------------

  openPreview(documentId) {
    const document = this.documents.find((one) => one.id === documentId);
    if (!document || document.status !== "ready" || !this.urls.page) return;
    this.previewing = { document, page: 1 };
    this.previewTitle.textContent = document.name;
    this.previewShare.setAttribute("aria-label", fmt(gettext("Share “%s”"), [document.name]));
    this.board.hidden = this.repository.hidden = true;
    this.preview.hidden = false;
    this.showPage(1);
    (this.previewNext.disabled ? this.previewShare : this.previewNext).focus();
  }

  showPage(number) {
    const { document } = this.previewing || {};
    if (!document || number < 1 || number > document.page_count) return;
    this.previewing.page = number;
    this.previewImage.src = this.urls.page.replace("/0/pages/1.png", `/${document.id}/pages/${number}.png`);
    this.previewImage.alt = fmt(gettext("Page %s of “%s”"), [number, document.name]);
    this.previewPosition.textContent = fmt(gettext("Page %s of %s"), [number, document.page_count]);
    this.previewPrevious.disabled = number <= 1;
    this.previewNext.disabled = number >= document.page_count;
  }

  closePreview({ focus = true } = {}) {
    if (!this.previewing) return;
    const id = this.previewing.document.id;
    this.previewing = null;
    this.preview.hidden = true;
    this.previewImage.removeAttribute("src");
    this.board.hidden = false;
    this.repository.hidden = !this.urls.upload && !this.urls.repository;
    if (focus) this.list.querySelector(`.document-item[data-document-id="${id}"] .document-item__preview`)?.focus();
  }

  // --- Sharing --------------------------------------------------------------------------

  share(documentId) {
    const document = this.documents.find((one) => one.id === documentId);
    if (!document || document.status !== "ready") return;
    this.start({ kind: "pdf", document_id: documentId });
  }

  async start(body) {
    this.showError("");
    try {
      await this.request("presentation.start", body);
      this.dialog.close();
      this.onShared();
    } catch (error) {
      const messages = {
        share_busy: error.message || gettext("Someone else is sharing."),
        not_found: gettext("This document is not ready, or no longer in your repository."),
      };
      this.showError(messages[error.code] || describeError(error));
      if (error.code === "not_found") this.refresh();
    }
  }

  // --- Upload and render progress -------------------------------------------------------

  upload(file) {
    if (this.uploading) return;
    this.showError("");
    const data = new FormData();
    data.append("file", file);
    const xhr = new XMLHttpRequest();
    this.uploading = xhr;
    xhr.open("POST", this.urls.upload);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.responseType = "json";
    this.uploadButton.disabled = true;
    this.progress.hidden = false;
    this.progress.value = 0;
    this.statusLine.textContent = fmt(gettext("Uploading “%s”…"), [file.name]);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) this.progress.value = Math.round((event.loaded / event.total) * 100);
    });
    xhr.addEventListener("load", () => this.uploaded(xhr));
    xhr.addEventListener("error", () => this.uploadFailed(gettext("The upload failed. Check the connection and try again.")));
    xhr.addEventListener("abort", () => this.uploadFailed(""));
    xhr.send(data);
  }

  uploaded(xhr) {
    const answer = xhr.response || {};
    if (xhr.status >= 400 || !answer.document) {
      const fallback = xhr.status === 403 ? gettext("You are not allowed to do this.") : gettext("The upload failed.");
      return this.uploadFailed(answer.error || fallback);
    }
    this.uploading = null;
    this.uploadButton.disabled = false;
    this.progress.hidden = true;
    this.statusLine.textContent = fmt(gettext("“%s” uploaded; its pages are being prepared."), [answer.document.name]);
    this.documents = [answer.document, ...this.documents.filter((one) => one.id !== answer.document.id)];
    this.renderList();
    this.followProcessing();
  }

  uploadFailed(message) {
    this.uploading = null;
    this.uploadButton.disabled = false;
    this.progress.hidden = true;
    this.statusLine.textContent = "";
    if (message) this.showError(message);
  }

  // Documents still rendering: their status every second while the panel is open.
  followProcessing() {
    clearTimeout(this.statusTimer);
    if (!this.urls.status || !this.dialog.open) return;
    if (!this.documents.some((one) => one.status === "processing")) return;
    this.statusTimer = setTimeout(() => this.pollStatus(), STATUS_EVERY_MS);
  }

  async pollStatus() {
    const processing = this.documents.filter((one) => one.status === "processing");
    await Promise.all(
      processing.map(async (document) => {
        try {
          const response = await fetch(this.urls.status.replace("/0/", `/${document.id}/`), {
            headers: { Accept: "application/json" },
            credentials: "same-origin",
          });
          if (response.status === 404) {
            this.documents = this.documents.filter((one) => one.id !== document.id);
            return;
          }
          if (!response.ok) return;
          const fresh = await response.json();
          this.documents = this.documents.map((one) => (one.id === fresh.id ? fresh : one));
          if (fresh.status === "ready") this.statusLine.textContent = fmt(gettext("“%s” is ready to share."), [fresh.name]);
        } catch {
          // The network is back in a moment: the next round asks again.
        }
      }),
    );
    // Ready documents come first, as the server lists them.
    const order = { ready: 0, processing: 1, failed: 1 };
    this.documents.sort((a, b) => (order[a.status] ?? 1) - (order[b.status] ?? 1) || String(b.created_at).localeCompare(String(a.created_at)));
    this.renderList();
    this.followProcessing();
  }
}

function csrfToken() {
  const field = document.querySelector("input[name=csrfmiddlewaretoken]");
  if (field) return field.value;
  const cookie = document.cookie.split("; ").find((part) => part.startsWith("csrftoken="));
  return cookie ? decodeURIComponent(cookie.split("=")[1]) : "";
}

// The room's documents feature (features.js): built the first time the panel opens.
export function setup(room) {
  const panel = new DocumentsPanel({
    button: document.getElementById("documents-button"),
    dialog: document.getElementById("documents-panel"),
    request: room.request,
    onShared: () => document.getElementById("presentation").querySelector(".presentation__view")?.focus(),
  });
  panel.setAllowed(room.mayShare());
  return {
    onEvent: (type, body) => panel.onEvent(type, body),
    // The share policy or the person's role changed.
    controlsChanged: () => panel.setAllowed(room.mayShare()),
    open: () => panel.open(),
  };
}
