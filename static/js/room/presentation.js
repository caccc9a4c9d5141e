// The viewer of a shared PDF or whiteboard on the stage (F6, F7): the page (the
// document's rendered image, or a blank or dotted whiteboard) under the annotation
// canvas (annotate.js), page turning for the sharer (buttons, keys, a page number),
// the page indicator for everyone, and Download (a PNG of the page, or the PDF with
// every annotation) through presentation.export. It follows the room's
// presentation.* and annotation.* events; the snapshot's `presentation` starts it
// over after a (re)connection. The room loads it (with annotate.js) the first time a
// presentation is shown (features.js).
import { fmt } from "../ui.js";
import { Annotator } from "./annotate.js";
import { describeError, el, notice } from "./dom.js";

// The dotted whiteboard as the exports draw it (documents/exports.py): a grid of
// WHITEBOARD_COLUMNS dots across, in DOT_COLOR.
const WHITEBOARD_COLUMNS = 40;
const DOT_COLOR = "rgb(176, 182, 194)";
// An export that has not come after this long: give the button back (asking again is safe).
const EXPORT_PATIENCE_MS = 120_000;

function button(className, label, text) {
  const node = el("button", className, text ?? label);
  node.type = "button";
  node.setAttribute("aria-label", label);
  node.title = label;
  return node;
}

export class PresentationViewer {
  // `root`: the (empty) viewer element of the stage; `self()` → own participant object.
  constructor({ root, selfId, request, self }) {
    Object.assign(this, { root, selfId, request, self });
    this.presentation = null;
    this.visible = false;
    this.imageLoadedPage = 0;
    this.exports = new Map(); // export id → {format, timer} we wait for
    this.readyExports = new Map(); // export id → event that came before its ack
    this.build();
    this.annotator = new Annotator({
      sheet: this.sheet,
      toolbar: this.toolsSlot,
      selfId,
      request,
      current: () => this.context(),
    });
    new ResizeObserver(() => this.layout()).observe(this.view);
    window.matchMedia?.(`(resolution: ${window.devicePixelRatio || 1}dppx)`).addEventListener?.("change", () => this.layout());
  }

  // --- DOM ------------------------------------------------------------------------------

  build() {
    const root = this.root;
    this.view = el("div", "presentation__view");
    this.view.tabIndex = 0;
    this.view.setAttribute("role", "region");
    this.view.setAttribute("aria-roledescription", gettext("shared page"));
    this.sheet = el("div", "presentation__sheet");
    this.image = el("img", "presentation__image");
    this.image.alt = "";
    this.image.decoding = "async";
    this.image.draggable = false;
    this.background = el("canvas", "presentation__background");
    this.background.setAttribute("aria-hidden", "true");
    this.sheet.append(this.image, this.background);
    this.status = el("p", "presentation__status");
    this.status.setAttribute("role", "status");
    this.view.append(this.sheet, this.status);

    const bar = el("div", "presentation__bar");
    this.toolsSlot = el("div", "presentation__tools");

    const pages = el("div", "presentation__pages");
    pages.setAttribute("role", "group");
    pages.setAttribute("aria-label", gettext("Pages"));
    this.previous = button("presentation__nav presentation__previous", gettext("Previous page"), "‹");
    this.next = button("presentation__nav presentation__next", gettext("Next page"), "›");
    this.pageInput = el("input", "presentation__page-input");
    this.pageInput.type = "number";
    this.pageInput.min = "1";
    this.pageInput.inputMode = "numeric";
    this.pageInput.setAttribute("aria-label", gettext("Page number"));
    this.indicator = el("span", "presentation__indicator");
    this.indicator.setAttribute("aria-live", "polite");
    this.addPage = button("presentation__add-page button button--small", gettext("Add a page"), gettext("Add page"));
    pages.append(this.previous, this.pageInput, this.indicator, this.next, this.addPage);

    const download = el("div", "presentation__download");
    download.setAttribute("role", "group");
    download.setAttribute("aria-label", gettext("Download"));
    this.pngButton = button("presentation__export button button--small", gettext("Download this page as an image (PNG)"), gettext("PNG"));
    this.pngButton.dataset.format = "png";
    this.pdfButton = button("presentation__export button button--small", gettext("Download with the annotations (PDF)"), gettext("PDF"));
    this.pdfButton.dataset.format = "pdf";
    download.append(el("span", "presentation__download-label", gettext("Download")), this.pngButton, this.pdfButton);

    this.nameLabel = el("span", "presentation__name");
    bar.append(this.toolsSlot, pages, download);
    root.append(this.nameLabel, this.view, bar);
    this.bind();
  }

  bind() {
    this.previous.addEventListener("click", () => this.turnBy(-1));
    this.next.addEventListener("click", () => this.turnBy(1));
    this.addPage.addEventListener("click", () => this.addWhiteboardPage());
    this.pageInput.addEventListener("change", () => this.turnTo(Number(this.pageInput.value)));
    this.pageInput.addEventListener("keydown", (event) => {
      if (event.key === "Enter") this.turnTo(Number(this.pageInput.value));
    });
    this.view.addEventListener("keydown", (event) => this.onKey(event));
    this.image.addEventListener("load", () => {
      this.imageLoadedPage = Number(this.image.dataset.page) || 0;
      this.view.dataset.loading = "false";
      this.status.textContent = "";
    });
    this.image.addEventListener("error", () => {
      if (!this.image.getAttribute("src")) return;
      this.view.dataset.loading = "false";
      this.status.textContent = gettext("This page could not be loaded.");
    });
    for (const node of [this.pngButton, this.pdfButton]) node.addEventListener("click", () => this.download(node.dataset.format));
  }

  // --- What the annotator and the tests read -----------------------------------------

  get isSharer() {
    return Boolean(this.presentation) && this.presentation.sharer_id === this.selfId;
  }

  context() {
    if (!this.presentation) return null;
    const self = this.self();
    const canClear = this.isSharer || (Boolean(self) && self.role === "organizer");
    return { presentation: this.presentation, page: this.presentation.page, canClear };
  }

  get state() {
    const presentation = this.presentation;
    if (!presentation) return null;
    return {
      id: presentation.id,
      kind: presentation.kind,
      name: presentation.name,
      page: presentation.page,
      page_count: presentation.page_count,
      template: presentation.template,
      sharer_id: presentation.sharer_id,
      visible: this.visible,
      image_loaded: presentation.kind === "pdf" ? this.imageLoadedPage === presentation.page && this.image.complete : null,
      annotations: this.annotator.counts(),
      drawing: Boolean(this.annotator.drawing),
      tool: this.annotator.tool,
      annotate_allowed: this.annotator.allowed,
      exporting: this.exports.size,
    };
  }

  // --- Server state ---------------------------------------------------------------------

  // The snapshot's `presentation` ({presentation, annotations} or null).
  snapshot(section) {
    if (!section || !section.presentation) return this.end();
    this.show(section.presentation, section.annotations || []);
  }

  onEvent(type, body) {
    if (type === "presentation.started") return this.show(body, []);
    if (type === "presentation.export") return this.onExport(body);
    if (!this.presentation) return;
    if (type === "presentation.ended") {
      if (body.presentation_id === this.presentation.id) this.end();
    } else if (type === "presentation.page") {
      if (body.presentation_id !== this.presentation.id) return;
      this.presentation.page = body.page;
      this.presentation.page_count = body.page_count;
      this.render();
      this.annotator.pageChanged();
    } else if (type.startsWith("annotation.")) {
      this.annotator.onEvent(type, body);
    }
  }

  show(presentation, annotations) {
    const same = this.presentation && this.presentation.id === presentation.id;
    this.presentation = { ...presentation };
    if (!same) this.imageLoadedPage = 0;
    this.root.dataset.kind = presentation.kind;
    this.root.dataset.template = presentation.template || "";
    this.nameLabel.textContent = presentation.name || "";
    this.view.setAttribute("aria-label", presentation.name || gettext("Shared page"));
    this.annotator.reset(annotations);
    this.render();
    this.layout();
  }

  end() {
    this.presentation = null;
    this.imageLoadedPage = 0;
    this.image.removeAttribute("src");
    delete this.image.dataset.page;
    this.root.dataset.kind = "";
    this.nameLabel.textContent = "";
    this.status.textContent = "";
    this.annotator.reset([]);
  }

  // The stage shows (or stops showing) a presentation share.
  setVisible(visible) {
    this.visible = visible;
    this.root.hidden = !visible;
    if (visible) this.layout();
  }

  // Own role or rights changed.
  setSelf(self) {
    this.annotator.setAllowed(!self || self.annotate_allowed !== false);
    this.render();
  }

  removeCursor(participantId) {
    this.annotator.removeCursor(participantId);
  }

  // --- Rendering ------------------------------------------------------------------------

  pageInfo() {
    const presentation = this.presentation;
    if (presentation.kind === "pdf") {
      const page = (presentation.pages || []).find((one) => one.number === presentation.page);
      return page ? { aspect: page.width / page.height || 1, url: page.url } : { aspect: 1 / Math.SQRT2, url: null };
    }
    return { aspect: presentation.aspect || 16 / 9, url: null };
  }

  render() {
    const presentation = this.presentation;
    if (!presentation) return;
    const { page, page_count: count } = presentation;
    const sharer = this.isSharer;
    this.root.dataset.sharer = sharer ? "true" : "false";
    this.previous.hidden = !sharer;
    this.next.hidden = !sharer;
    this.pageInput.hidden = !sharer;
    this.previous.disabled = page <= 1;
    this.next.disabled = page >= count;
    this.pageInput.max = String(count);
    if (document.activeElement !== this.pageInput) this.pageInput.value = String(page);
    this.indicator.dataset.page = String(page);
    this.indicator.textContent = sharer ? fmt(gettext("of %s"), [count]) : fmt(gettext("Page %s of %s"), [page, count]);
    this.addPage.hidden = !(sharer && presentation.kind === "whiteboard");
    this.view.dataset.page = String(page);
    this.showPage();
  }

  showPage() {
    const presentation = this.presentation;
    const { url } = this.pageInfo();
    if (presentation.kind === "pdf") {
      this.background.hidden = true;
      this.image.hidden = false;
      this.image.alt = fmt(gettext("Page %s of %s"), [presentation.page, presentation.page_count]);
      if (url && this.image.dataset.page !== String(presentation.page)) {
        this.view.dataset.loading = "true";
        this.status.textContent = gettext("Loading the page…");
        this.image.dataset.page = String(presentation.page);
        this.image.src = url;
        this.preload(presentation.page + 1);
      }
    } else {
      this.image.hidden = true;
      this.background.hidden = false;
      this.view.dataset.loading = "false";
      this.status.textContent = "";
    }
    this.layout();
  }

  // The next page, fetched ahead so that a turn shows at once.
  preload(number) {
    const page = (this.presentation.pages || []).find((one) => one.number === number);
    if (page) new Image().src = page.url;
  }

  // The page as large as the view allows, its proportions kept; the canvases follow.
  layout() {
    if (!this.presentation || this.root.hidden) return;
    const { aspect } = this.pageInfo();
    const style = getComputedStyle(this.view);
    const room = {
      width: this.view.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight),
      height: this.view.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom),
    };
    if (room.width <= 0 || room.height <= 0) return;
    let width = room.width;
    let height = width / aspect;
    if (height > room.height) {
      height = room.height;
      width = height * aspect;
    }
    width = Math.floor(width);
    height = Math.floor(height);
    this.sheet.style.width = `${width}px`;
    this.sheet.style.height = `${height}px`;
    this.drawBackground(width, height);
    this.annotator.resize(width, height);
  }

  drawBackground(width, height) {
    if (this.presentation.kind !== "whiteboard") return;
    const ratio = window.devicePixelRatio || 1;
    const canvas = this.background;
    const key = `${width}x${height}@${ratio}:${this.presentation.template}`;
    if (canvas.dataset.drawn === key) return;
    canvas.dataset.drawn = key;
    canvas.width = Math.max(1, Math.round(width * ratio));
    canvas.height = Math.max(1, Math.round(height * ratio));
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, width, height);
    if (this.presentation.template !== "dotted") return;
    const spacing = Math.max(4, width / WHITEBOARD_COLUMNS);
    const radius = Math.max(1, spacing / 20);
    ctx.fillStyle = DOT_COLOR;
    for (let x = spacing / 2; x < width; x += spacing) {
      for (let y = spacing / 2; y < height; y += spacing) {
        ctx.beginPath();
        ctx.arc(x, y, radius, 0, Math.PI * 2);
        ctx.fill();
      }
    }
  }

  // --- Sharer: pages --------------------------------------------------------------------

  onKey(event) {
    if (event.target !== this.view) return;
    if (event.key === "Enter" && this.annotator.placeTextFromKeyboard()) {
      event.preventDefault();
      return;
    }
    if (!this.isSharer) return;
    const steps = { PageUp: -1, ArrowLeft: -1, ArrowUp: -1, PageDown: 1, ArrowRight: 1, ArrowDown: 1 };
    if (event.key in steps) {
      event.preventDefault();
      this.turnBy(steps[event.key]);
    } else if (event.key === "Home" || event.key === "End") {
      event.preventDefault();
      this.turnTo(event.key === "Home" ? 1 : this.presentation.page_count);
    }
  }

  turnBy(step) {
    if (this.presentation) this.turnTo(this.presentation.page + step);
  }

  async turnTo(page) {
    const presentation = this.presentation;
    if (!presentation || !this.isSharer) return;
    if (!Number.isInteger(page) || page < 1 || page > presentation.page_count) {
      this.pageInput.value = String(presentation.page);
      return;
    }
    if (page === presentation.page) return;
    try {
      await this.request("presentation.page", { presentation_id: presentation.id, page });
    } catch (error) {
      this.pageInput.value = String(this.presentation ? this.presentation.page : "");
      notice(describeError(error));
    }
  }

  async addWhiteboardPage() {
    const presentation = this.presentation;
    if (!presentation || !this.isSharer) return;
    this.addPage.disabled = true;
    try {
      await this.request("presentation.add_page", { presentation_id: presentation.id });
    } catch (error) {
      notice(describeError(error));
    } finally {
      this.addPage.disabled = false;
    }
  }

  // --- Download -------------------------------------------------------------------------

  async download(format) {
    const presentation = this.presentation;
    if (!presentation) return;
    const body = { presentation_id: presentation.id, format };
    if (format === "png") body.page = presentation.page;
    const node = format === "png" ? this.pngButton : this.pdfButton;
    node.disabled = true;
    node.setAttribute("aria-busy", "true");
    this.status.textContent = gettext("Preparing the download…");
    try {
      const answer = await this.request("presentation.export", body);
      this.waitForExport(answer.export_id, format);
      this.onExport(this.readyExports.get(answer.export_id) || answer);
    } catch (error) {
      this.exportDone(format);
      notice(describeError(error));
    }
  }

  waitForExport(exportId, format) {
    const previous = this.exports.get(exportId);
    if (previous) clearTimeout(previous.timer);
    const timer = setTimeout(() => {
      this.exports.delete(exportId);
      this.exportDone(format);
      notice(gettext("The download is taking too long. Try again later."));
    }, EXPORT_PATIENCE_MS);
    this.exports.set(exportId, { format, timer });
  }

  // The ack of presentation.export or the event that follows it when the file is ready.
  onExport({ export_id: id, status, url, error }) {
    const waiting = this.exports.get(id);
    if (!waiting) {
      // Ready before its ack came back: kept for the ack.
      if (status !== "rendering") this.readyExports.set(id, { export_id: id, status, url, error });
      return;
    }
    if (status === "rendering") return;
    clearTimeout(waiting.timer);
    this.exports.delete(id);
    this.readyExports.delete(id);
    this.exportDone(waiting.format);
    if (status === "ready" && url) this.save(url);
    else notice(fmt(gettext("The download could not be prepared: %s"), [error || gettext("unknown error")]), { kind: "error" });
  }

  exportDone(format) {
    const node = format === "png" ? this.pngButton : this.pdfButton;
    if ([...this.exports.values()].some((one) => one.format === format)) return;
    node.disabled = false;
    node.setAttribute("aria-busy", "false");
    if (!this.exports.size && this.status.textContent === gettext("Preparing the download…")) this.status.textContent = "";
  }

  save(url) {
    const link = el("a");
    link.href = url;
    link.download = "";
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
  }
}

// The room's presentation feature (features.js): built the first time a PDF or a
// whiteboard is shown.
export function setup(room) {
  const viewer = new PresentationViewer({ root: document.getElementById("presentation"), selfId: room.selfId, request: room.request, self: () => room.self });
  return {
    snapshot: (section) => viewer.snapshot(section),
    onEvent: (type, body) => viewer.onEvent(type, body),
    setSelf: (self) => viewer.setSelf(self),
    // The stage shows (or stops showing) a presentation share.
    stageChanged: (presenting) => viewer.setVisible(presenting),
    participantLeft: (id) => viewer.removeCursor(id),
    get state() {
      return viewer.state;
    },
  };
}
