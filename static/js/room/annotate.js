// Annotations on a shared page (F6, F7): the toolbar (Cursor, Marker, Eraser, Text,
// Undo, Clear) and the canvas over the page. Everything is stored in page fractions
// (docs/documents.md), so the canvas redraws from state at any size.
//
// A marker stroke goes out while it is drawn: chunks of the points drawn since the
// last one, one message in flight at a time and at most ~20 per second; the server
// relays each chunk at once and keeps the whole stroke. Strokes are drawn as
// quadratic curves through the midpoints of their points (smooth at any sample rate).
// The server's events are the truth: an erase, undo or clear shows when its event
// comes back.
import { fmt } from "../ui.js";
import { confirmAction, describeError, el, notice } from "./dom.js";

const CHUNK_EVERY_MS = 50; // ≤ 20 stroke messages per second
const CHUNK_MAX_POINTS = 200;
const STROKE_MAX_POINTS = 5000;
const CURSOR_EVERY_MS = 50; // the server allows 40 per second
const CURSOR_IDLE_MS = 3000;
const MIN_STEP_PX = 1.5; // a point closer than this to the last one adds nothing
const HIT_SLOP_PX = 6;
const TEXT_SIZE = 0.03; // of the page width
const TEXT_MAX = 500;
const LINE_SPACING = 1.25; // as the exports draw it
const TEXT_FONT = '"DejaVu Sans", Verdana, sans-serif';
const SVG = "http://www.w3.org/2000/svg";

// Labels are looked up when the toolbar is built (gettext of the page's catalog).
const COLORS = [
  ["#e11d48", () => gettext("Red")],
  ["#f59e0b", () => gettext("Orange")],
  ["#16a34a", () => gettext("Green")],
  ["#2563eb", () => gettext("Blue")],
  ["#7c3aed", () => gettext("Purple")],
  ["#111827", () => gettext("Black")],
];
const WIDTHS = [
  [0.003, () => gettext("Thin")],
  [0.006, () => gettext("Medium")],
  [0.012, () => gettext("Thick")],
];
const TOOLS = [
  ["cursor", () => gettext("Cursor"), () => gettext("Point with a named cursor everyone sees")],
  ["marker", () => gettext("Marker"), () => gettext("Draw freehand")],
  ["eraser", () => gettext("Eraser"), () => gettext("Click or drag across drawings and texts to remove them")],
  ["text", () => gettext("Text"), () => gettext("Click to place a text; click your own text to edit it")],
];
// Small line icons (24×24, stroked like the room's sprite).
const ICONS = {
  cursor: "M5 3l14 7-6 1.5L10 18z",
  marker: "M4 20l4-1 11-11-3-3L5 16zM14 6l3 3",
  eraser: "M8 20h12M5 15l8-8 5 5-6 6H9z",
  text: "M5 6V4h14v2M12 4v16M9 20h6",
  undo: "M9 14L4 9l5-5M4 9h10a6 6 0 0 1 0 12h-3",
  clear: "M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3",
};

function lineIcon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

function toolButton(name, label, title) {
  const button = el("button", "annotate__button");
  button.type = "button";
  button.dataset.tool = name;
  button.title = title || label;
  button.append(lineIcon(name), el("span", "annotate__label", label));
  return button;
}

function newStrokeId() {
  const random = crypto.getRandomValues(new Uint32Array(2));
  return `s${Date.now().toString(36)}${random[0].toString(36)}${random[1].toString(36)}`.slice(0, 40);
}

// --- Drawing (also used by the tests' reading of the canvas) --------------------------

export function drawStroke(ctx, data, width, height) {
  const points = data.points || [];
  if (!points.length) return;
  const lineWidth = Math.max(1, data.width * width);
  ctx.strokeStyle = data.color;
  ctx.fillStyle = data.color;
  ctx.lineWidth = lineWidth;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  const at = (i) => [points[i][0] * width, points[i][1] * height];
  if (points.length === 1) {
    const [x, y] = at(0);
    ctx.beginPath();
    ctx.arc(x, y, lineWidth / 2, 0, Math.PI * 2);
    ctx.fill();
    return;
  }
  ctx.beginPath();
  ctx.moveTo(...at(0));
  // Through the midpoints, each point a control point: a smooth line whatever the rate.
  for (let i = 1; i < points.length - 1; i += 1) {
    const [x, y] = at(i);
    const [nx, ny] = at(i + 1);
    ctx.quadraticCurveTo(x, y, (x + nx) / 2, (y + ny) / 2);
  }
  ctx.lineTo(...at(points.length - 1));
  ctx.stroke();
}

function textMetrics(ctx, data, width, height) {
  const pixels = Math.max(4, data.size * width);
  ctx.font = `${pixels}px ${TEXT_FONT}`;
  const lines = String(data.text).split("\n");
  const wide = Math.max(...lines.map((line) => ctx.measureText(line).width));
  return { pixels, lines, x: data.x * width, y: data.y * height, width: wide, height: lines.length * pixels * LINE_SPACING };
}

export function drawText(ctx, data, width, height) {
  const box = textMetrics(ctx, data, width, height);
  ctx.fillStyle = data.color;
  ctx.textBaseline = "top";
  box.lines.forEach((line, index) => ctx.fillText(line, box.x, box.y + index * box.pixels * LINE_SPACING));
}

// Distance from (px, py) to the segment a–b.
function segmentDistance(px, py, ax, ay, bx, by) {
  const dx = bx - ax;
  const dy = by - ay;
  const length = dx * dx + dy * dy;
  const t = length ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / length)) : 0;
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

export class Annotator {
  // `sheet`: the element the size of the page (canvas, cursors and text input go in it);
  // `toolbar`: where the tools go; `current()` → {presentation, page, canClear} or null.
  constructor({ sheet, toolbar, selfId, request, current }) {
    Object.assign(this, { sheet, toolbar, selfId, request, current });
    this.annotations = new Map(); // id → annotation (every page)
    this.drawing = null; // our stroke being drawn
    this.erasing = null; // a drag of the eraser: {gesture, last point, ids sent}
    this.tool = "cursor";
    this.color = COLORS[0][0];
    this.width = WIDTHS[1][0];
    this.allowed = true;
    this.cursors = new Map(); // participant id → {node, timer}
    this.cursorSent = 0;
    this.cursorTimer = 0;
    this.cursorShown = false;
    this.pendingCursor = null;
    this.editing = null; // {annotationId|null, page, x, y}
    this.redrawQueued = false;
    this.size = { width: 0, height: 0, ratio: 1 };
    this.build();
  }

  // --- DOM ----------------------------------------------------------------------------

  build() {
    this.canvas = el("canvas", "presentation__canvas");
    this.canvas.setAttribute("aria-hidden", "true");
    this.ctx = this.canvas.getContext("2d");
    this.cursorLayer = el("div", "presentation__cursors");
    this.cursorLayer.setAttribute("aria-hidden", "true");
    this.textInput = el("textarea", "presentation__text-input");
    this.textInput.rows = 1;
    this.textInput.maxLength = TEXT_MAX;
    this.textInput.hidden = true;
    this.textInput.setAttribute("aria-label", gettext("Text on the page (Enter to place, Shift+Enter for a new line, Escape to cancel)"));
    this.sheet.append(this.canvas, this.cursorLayer, this.textInput);

    const bar = el("div", "annotate");
    bar.setAttribute("role", "toolbar");
    bar.setAttribute("aria-label", gettext("Annotation tools"));
    this.toolButtons = new Map();
    const tools = el("div", "annotate__group");
    for (const [name, label, title] of TOOLS) {
      const button = toolButton(name, label(), title());
      button.addEventListener("click", () => this.setTool(name));
      this.toolButtons.set(name, button);
      tools.append(button);
    }
    const colors = el("div", "annotate__group annotate__colors");
    colors.setAttribute("role", "group");
    colors.setAttribute("aria-label", gettext("Colour"));
    this.colorButtons = COLORS.map(([value, label]) => {
      const button = el("button", "annotate__swatch");
      button.type = "button";
      button.dataset.color = value;
      button.style.setProperty("--swatch", value);
      button.setAttribute("aria-label", label());
      button.title = label();
      button.addEventListener("click", () => this.setColor(value));
      colors.append(button);
      return button;
    });
    const widths = el("div", "annotate__group annotate__widths");
    widths.setAttribute("role", "group");
    widths.setAttribute("aria-label", gettext("Line width"));
    this.widthButtons = WIDTHS.map(([value, label]) => {
      const button = el("button", "annotate__width");
      button.type = "button";
      button.dataset.width = String(value);
      button.style.setProperty("--line", `${Math.round(value * 400)}px`);
      button.setAttribute("aria-label", label());
      button.title = label();
      button.addEventListener("click", () => this.setWidth(value));
      widths.append(button);
      return button;
    });
    const actions = el("div", "annotate__group");
    this.undoButton = toolButton("undo", gettext("Undo"), gettext("Undo your last change"));
    this.undoButton.addEventListener("click", () => this.undo());
    this.clearButton = toolButton("clear", gettext("Clear"), gettext("Remove every annotation of this page"));
    this.clearButton.addEventListener("click", () => this.clear());
    actions.append(this.undoButton, this.clearButton);
    bar.append(tools, colors, widths, actions);
    this.toolbar.append(bar);
    this.bar = bar;
    this.bind();
    this.renderToolbar();
  }

  bind() {
    const canvas = this.canvas;
    canvas.addEventListener("pointerdown", (event) => this.onPointerDown(event));
    canvas.addEventListener("pointermove", (event) => this.onPointerMove(event));
    canvas.addEventListener("pointerup", (event) => this.onPointerUp(event));
    canvas.addEventListener("pointercancel", (event) => this.onPointerUp(event));
    canvas.addEventListener("pointerleave", () => this.hideOwnCursor());
    this.textInput.addEventListener("keydown", (event) => {
      event.stopPropagation(); // not the viewer's page keys
      if (event.key === "Escape") {
        event.preventDefault();
        this.closeText();
      } else if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        this.commitText();
      }
    });
    this.textInput.addEventListener("input", () => this.fitTextInput());
    this.textInput.addEventListener("blur", () => this.commitText());
  }

  renderToolbar() {
    const context = this.current();
    const off = !this.allowed;
    this.bar.dataset.disabled = off ? "true" : "false";
    this.bar.title = off ? gettext("An organizer has turned annotating off for you.") : "";
    for (const [name, button] of this.toolButtons) {
      button.disabled = off;
      button.setAttribute("aria-pressed", !off && this.tool === name ? "true" : "false");
    }
    for (const button of this.colorButtons) {
      button.disabled = off;
      button.setAttribute("aria-pressed", button.dataset.color === this.color ? "true" : "false");
    }
    for (const button of this.widthButtons) {
      button.disabled = off;
      button.setAttribute("aria-pressed", Number(button.dataset.width) === this.width ? "true" : "false");
    }
    this.undoButton.disabled = off;
    this.clearButton.hidden = !(context && context.canClear);
    this.canvas.dataset.tool = off ? "none" : this.tool;
  }

  // --- Settings -----------------------------------------------------------------------

  setTool(name) {
    if (!this.allowed) return;
    if (name !== "cursor") this.hideOwnCursor();
    this.commitText();
    this.tool = name;
    this.renderToolbar();
  }

  setColor(value) {
    this.color = value;
    this.renderToolbar();
  }

  setWidth(value) {
    this.width = value;
    this.renderToolbar();
  }

  // Whether this person may annotate (an organizer may turn it off).
  setAllowed(allowed) {
    if (this.allowed === allowed) return this.renderToolbar();
    this.allowed = allowed;
    if (!allowed) {
      this.abandonDrawing();
      this.closeText();
      this.hideOwnCursor();
    }
    this.renderToolbar();
  }

  // --- State from the server ---------------------------------------------------------

  reset(annotations = []) {
    this.annotations = new Map(annotations.map((annotation) => [annotation.id, annotation]));
    this.abandonDrawing();
    this.closeText();
    for (const id of [...this.cursors.keys()]) this.removeCursor(id);
    this.renderToolbar();
    this.redraw();
  }

  onEvent(type, body) {
    const context = this.current();
    // annotation.added / .updated carry an annotation, without the presentation's id.
    if (!context || (body.presentation_id !== undefined && body.presentation_id !== context.presentation.id)) return;
    if (type === "annotation.stroke") this.onStroke(body);
    else if (type === "annotation.added" || type === "annotation.updated") this.onAnnotation(body);
    else if (type === "annotation.removed") this.onRemoved(body.annotation_ids || []);
    else if (type === "annotation.cursor") this.onCursor(body);
  }

  onStroke(chunk) {
    if (chunk.participant_id === this.selfId) return; // ours is drawn as we draw it
    const known = this.annotations.get(chunk.annotation_id);
    if (known) {
      known.data.points.push(...chunk.points);
    } else {
      this.annotations.set(chunk.annotation_id, {
        id: chunk.annotation_id,
        page: chunk.page,
        kind: "stroke",
        author_id: chunk.participant_id,
        author_name: "",
        data: { points: [...chunk.points], color: chunk.color, width: chunk.width },
      });
    }
    if (this.onCurrentPage(chunk.page)) this.queueRedraw();
  }

  onAnnotation(annotation) {
    if (!annotation || annotation.id == null) return;
    this.annotations.set(annotation.id, annotation);
    if (this.editing && this.editing.annotationId === annotation.id) return; // our own edit, still open
    if (this.onCurrentPage(annotation.page)) this.queueRedraw();
  }

  onRemoved(ids) {
    for (const id of ids) {
      this.annotations.delete(id);
      if (this.drawing && this.drawing.annotationId === id) this.abandonDrawing();
      if (this.editing && this.editing.annotationId === id) this.closeText();
    }
    this.queueRedraw();
  }

  // The page changed (or the presentation): what is drawn follows.
  pageChanged() {
    this.closeText();
    this.renderToolbar();
    this.redraw();
  }

  onCurrentPage(page) {
    const context = this.current();
    return Boolean(context) && context.page === page;
  }

  counts() {
    const counts = {};
    for (const annotation of this.annotations.values()) counts[annotation.page] = (counts[annotation.page] || 0) + 1;
    return counts;
  }

  // --- Canvas size and drawing --------------------------------------------------------

  // The sheet was laid out at `width`×`height` CSS pixels.
  resize(width, height) {
    const ratio = window.devicePixelRatio || 1;
    if (width === this.size.width && height === this.size.height && ratio === this.size.ratio) return;
    this.size = { width, height, ratio };
    this.canvas.width = Math.max(1, Math.round(width * ratio));
    this.canvas.height = Math.max(1, Math.round(height * ratio));
    this.fitTextInput();
    this.redraw();
  }

  queueRedraw() {
    if (this.redrawQueued) return;
    this.redrawQueued = true;
    requestAnimationFrame(() => {
      this.redrawQueued = false;
      this.redraw();
    });
  }

  redraw() {
    const { width, height, ratio } = this.size;
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    const context = this.current();
    if (!context || !width) return;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    for (const annotation of this.pageAnnotations(context.page)) {
      if (this.editing && this.editing.annotationId === annotation.id) continue; // in the input
      if (annotation.kind === "stroke") drawStroke(ctx, annotation.data, width, height);
      else drawText(ctx, annotation.data, width, height);
    }
    const drawing = this.drawing;
    if (drawing && drawing.annotationId == null && drawing.page === context.page) {
      drawStroke(ctx, drawing, width, height);
    }
  }

  // The annotations of a page in the order they were made (as the exports draw them).
  pageAnnotations(page) {
    return [...this.annotations.values()].filter((annotation) => annotation.page === page).sort((a, b) => a.id - b.id);
  }

  // --- Pointer input ---------------------------------------------------------------

  // Page fractions of a pointer event, clamped to the page.
  fractionOf(event) {
    const rect = this.canvas.getBoundingClientRect();
    if (!rect.width || !rect.height) return null;
    const clamp = (value) => Math.min(1, Math.max(0, value));
    return [clamp((event.clientX - rect.left) / rect.width), clamp((event.clientY - rect.top) / rect.height)];
  }

  onPointerDown(event) {
    const context = this.current();
    if (!context || !this.allowed || event.button !== 0) return;
    const point = this.fractionOf(event);
    if (!point) return;
    if (this.tool === "marker") {
      event.preventDefault();
      this.canvas.setPointerCapture(event.pointerId);
      this.startStroke(context, point);
    } else if (this.tool === "eraser") {
      event.preventDefault();
      this.canvas.setPointerCapture(event.pointerId);
      this.erasing = { gesture: newStrokeId(), last: point, sent: new Set() };
      this.eraseAt(context, point);
    } else if (this.tool === "text") {
      event.preventDefault();
      this.textAt(context, point);
    } else if (this.tool === "cursor") {
      this.moveOwnCursor(context, point);
    }
  }

  onPointerMove(event) {
    const context = this.current();
    if (!context || !this.allowed) return;
    if (this.drawing && this.tool === "marker") {
      const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
      for (const one of events.length ? events : [event]) {
        const point = this.fractionOf(one);
        if (point) this.addPoint(point);
      }
      this.queueRedraw();
      this.flush();
    } else if (this.erasing && this.tool === "eraser") {
      const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
      for (const one of events.length ? events : [event]) {
        const point = this.fractionOf(one);
        if (point) this.eraseAlong(context, point);
      }
    } else if (this.tool === "cursor") {
      const point = this.fractionOf(event);
      if (point) this.moveOwnCursor(context, point);
    }
  }

  onPointerUp(event) {
    this.erasing = null; // the drag of the eraser ends
    if (!this.drawing || this.drawing.finished) return;
    const point = this.fractionOf(event);
    if (point) this.addPoint(point);
    this.drawing.finished = true;
    this.queueRedraw();
    this.flush();
  }

  // --- Marker: a stroke sent in chunks while it is drawn -------------------------------

  startStroke(context, point) {
    this.abandonDrawing();
    this.drawing = {
      presentationId: context.presentation.id,
      page: context.page,
      strokeId: newStrokeId(),
      color: this.color,
      width: this.width,
      points: [point],
      pending: [point],
      finished: false,
      inFlight: false,
      lastSent: 0,
      timer: 0,
      annotationId: null,
    };
    this.queueRedraw();
    this.flush();
  }

  addPoint(point) {
    const drawing = this.drawing;
    if (!drawing || drawing.finished || drawing.points.length >= STROKE_MAX_POINTS) return;
    const last = drawing.points[drawing.points.length - 1];
    const { width, height } = this.size;
    if (Math.hypot((point[0] - last[0]) * width, (point[1] - last[1]) * height) < MIN_STEP_PX) return;
    drawing.points.push(point);
    drawing.pending.push(point);
  }

  // Sends what was drawn since the last chunk: one message in flight at a time (the
  // chunks stay in order), at most one every CHUNK_EVERY_MS.
  flush() {
    const drawing = this.drawing;
    if (!drawing || drawing.inFlight || drawing.done) return;
    if (!drawing.pending.length && !drawing.finished) return;
    const wait = CHUNK_EVERY_MS - (performance.now() - drawing.lastSent);
    if (wait > 0) {
      clearTimeout(drawing.timer);
      drawing.timer = setTimeout(() => this.flush(), wait);
      return;
    }
    let points = drawing.pending.splice(0, CHUNK_MAX_POINTS);
    // The end of a stroke with nothing new since the last chunk: its last point again.
    if (!points.length) points = [drawing.points[drawing.points.length - 1]];
    const final = drawing.finished && !drawing.pending.length;
    drawing.inFlight = true;
    drawing.lastSent = performance.now();
    const body = {
      presentation_id: drawing.presentationId,
      page: drawing.page,
      stroke_id: drawing.strokeId,
      points,
      color: drawing.color,
      width: drawing.width,
      final,
    };
    this.request("annotation.stroke", body).then(
      ({ annotation_id: id }) => this.chunkSent(drawing, id, final),
      (error) => this.chunkRefused(drawing, error),
    );
  }

  chunkSent(drawing, annotationId, final) {
    drawing.inFlight = false;
    if (this.drawing !== drawing) return; // abandoned meanwhile
    if (drawing.annotationId == null && annotationId != null) {
      drawing.annotationId = annotationId;
      // From now on it is an annotation like any other (its points grow as we draw).
      this.annotations.set(annotationId, {
        id: annotationId,
        page: drawing.page,
        kind: "stroke",
        author_id: this.selfId,
        author_name: "",
        data: { points: drawing.points, color: drawing.color, width: drawing.width },
      });
    }
    if (final) {
      drawing.done = true;
      this.drawing = null;
      this.queueRedraw();
      return;
    }
    this.flush();
  }

  chunkRefused(drawing, error) {
    drawing.inFlight = false;
    if (this.drawing !== drawing) return;
    this.abandonDrawing();
    // Erased meanwhile (or the presentation ended): nothing of it stays.
    if (error.code === "not_found" && drawing.annotationId != null) this.annotations.delete(drawing.annotationId);
    notice(describeError(error));
  }

  abandonDrawing() {
    if (!this.drawing) return;
    clearTimeout(this.drawing.timer);
    this.drawing.done = true;
    this.drawing = null;
    this.queueRedraw();
  }

  // --- Eraser ---------------------------------------------------------------------------

  // The topmost annotation of the page under `point`, if any (but those in `skip`).
  hitTest(page, [fx, fy], { kind = null, author = null, skip = null } = {}) {
    const { width, height } = this.size;
    const x = fx * width;
    const y = fy * height;
    const candidates = this.pageAnnotations(page).reverse();
    for (const annotation of candidates) {
      if (skip && skip.has(annotation.id)) continue;
      if (kind && annotation.kind !== kind) continue;
      if (author != null && annotation.author_id !== author) continue;
      if (annotation.kind === "text") {
        const box = textMetrics(this.ctx, annotation.data, width, height);
        const slop = HIT_SLOP_PX / 2;
        if (x >= box.x - slop && x <= box.x + box.width + slop && y >= box.y - slop && y <= box.y + box.height + slop) return annotation;
        continue;
      }
      const points = annotation.data.points || [];
      const reach = (annotation.data.width * width) / 2 + HIT_SLOP_PX;
      for (let i = 0; i < points.length; i += 1) {
        const [ax, ay] = [points[i][0] * width, points[i][1] * height];
        const [bx, by] = i + 1 < points.length ? [points[i + 1][0] * width, points[i + 1][1] * height] : [ax, ay];
        if (segmentDistance(x, y, ax, ay, bx, by) <= reach) return annotation;
      }
    }
    return null;
  }

  // Erases what is under `point`: every annotation there, once each per drag (the
  // erases of one drag share its gesture, so that one undo brings them all back).
  eraseAt(context, point) {
    const erasing = this.erasing || { gesture: newStrokeId(), sent: new Set() };
    for (let hit = this.hitTest(context.page, point, { skip: erasing.sent }); hit; hit = this.hitTest(context.page, point, { skip: erasing.sent })) {
      erasing.sent.add(hit.id);
      const body = { presentation_id: context.presentation.id, annotation_id: hit.id, gesture: erasing.gesture };
      this.request("annotation.erase", body).catch((error) => {
        if (error.code !== "not_found") notice(describeError(error));
      });
    }
  }

  // The eraser dragged from its last point to `point`: what the segment crosses goes,
  // checked every few pixels so that a fast drag misses nothing.
  eraseAlong(context, point) {
    const erasing = this.erasing;
    const [x0, y0] = erasing.last;
    const { width, height } = this.size;
    const steps = Math.max(1, Math.ceil(Math.hypot((point[0] - x0) * width, (point[1] - y0) * height) / (HIT_SLOP_PX / 2)));
    for (let i = 1; i <= steps; i += 1) {
      this.eraseAt(context, [x0 + ((point[0] - x0) * i) / steps, y0 + ((point[1] - y0) * i) / steps]);
    }
    erasing.last = point;
  }

  // --- Text -------------------------------------------------------------------------------

  textAt(context, point) {
    this.commitText();
    const own = this.hitTest(context.page, point, { kind: "text", author: this.selfId });
    if (own) this.openText({ annotationId: own.id, page: own.page, x: own.data.x, y: own.data.y, color: own.data.color, text: own.data.text });
    else this.openText({ annotationId: null, page: context.page, x: point[0], y: point[1], color: this.color, text: "" });
  }

  // For keyboards: a new text near the top left of the page.
  placeTextFromKeyboard() {
    const context = this.current();
    if (!context || !this.allowed || this.tool !== "text") return false;
    this.openText({ annotationId: null, page: context.page, x: 0.05, y: 0.05, color: this.color, text: "" });
    return true;
  }

  openText(editing) {
    this.editing = editing;
    const input = this.textInput;
    input.value = editing.text;
    input.style.color = editing.color;
    input.hidden = false;
    this.fitTextInput();
    this.queueRedraw();
    input.focus();
  }

  fitTextInput() {
    if (!this.editing) return;
    const { width, height } = this.size;
    const input = this.textInput;
    const pixels = Math.max(4, TEXT_SIZE * width);
    input.style.left = `${this.editing.x * 100}%`;
    input.style.top = `${this.editing.y * 100}%`;
    input.style.fontSize = `${pixels}px`;
    input.style.lineHeight = String(LINE_SPACING);
    input.rows = Math.max(1, input.value.split("\n").length);
    input.style.maxWidth = `${Math.max(40, (1 - this.editing.x) * width)}px`;
    input.style.maxHeight = `${Math.max(20, (1 - this.editing.y) * height)}px`;
  }

  closeText() {
    if (!this.editing) return;
    this.editing = null;
    this.textInput.hidden = true;
    this.textInput.value = "";
    this.queueRedraw();
  }

  commitText() {
    const editing = this.editing;
    if (!editing) return;
    const text = this.textInput.value.trim();
    const before = editing.annotationId != null ? this.annotations.get(editing.annotationId) : null;
    this.closeText();
    const context = this.current();
    if (!text || !context || !this.allowed || (before && before.data.text === text)) return;
    const body = {
      presentation_id: context.presentation.id,
      page: editing.page,
      x: editing.x,
      y: editing.y,
      text,
      color: editing.color,
      size: before ? before.data.size : TEXT_SIZE,
    };
    if (editing.annotationId != null) body.annotation_id = editing.annotationId;
    this.request("annotation.text", body).catch((error) => notice(describeError(error)));
  }

  // --- Undo, clear -------------------------------------------------------------------

  undo() {
    const context = this.current();
    if (!context || !this.allowed) return;
    this.request("annotation.undo", { presentation_id: context.presentation.id }).catch((error) => {
      notice(error.code === "not_found" ? gettext("There is nothing of yours to undo.") : describeError(error), { kind: "info" });
    });
  }

  async clear() {
    const context = this.current();
    if (!context || !context.canClear) return;
    const question = fmt(gettext("Remove every annotation of page %s for everyone?"), [context.page]);
    if (!(await confirmAction(question, gettext("Clear page")))) return;
    this.request("annotation.clear", { presentation_id: context.presentation.id, page: context.page }).catch((error) =>
      notice(describeError(error)),
    );
  }

  // --- Cursors -----------------------------------------------------------------------

  // Ours: sent at most every CURSOR_EVERY_MS, the last position always goes.
  moveOwnCursor(context, point) {
    this.pendingCursor = { presentation_id: context.presentation.id, x: point[0], y: point[1] };
    if (this.cursorTimer) return;
    const wait = Math.max(0, CURSOR_EVERY_MS - (performance.now() - this.cursorSent));
    this.cursorTimer = setTimeout(() => this.sendCursor(), wait);
  }

  sendCursor() {
    this.cursorTimer = 0;
    const body = this.pendingCursor;
    this.pendingCursor = null;
    if (!body || !this.allowed) return;
    this.cursorSent = performance.now();
    this.cursorShown = true;
    this.request("annotation.cursor", body).catch(() => {});
  }

  hideOwnCursor() {
    clearTimeout(this.cursorTimer);
    this.cursorTimer = 0;
    this.pendingCursor = null;
    const context = this.current();
    if (!this.cursorShown || !context) return;
    this.cursorShown = false;
    this.request("annotation.cursor", { presentation_id: context.presentation.id, hidden: true }).catch(() => {});
  }

  onCursor(body) {
    if (body.participant_id === this.selfId) return;
    if (body.hidden) return this.removeCursor(body.participant_id);
    let cursor = this.cursors.get(body.participant_id);
    if (!cursor) {
      const node = el("div", "remote-cursor");
      node.append(el("span", "remote-cursor__label"));
      node.dataset.participantId = String(body.participant_id);
      this.cursorLayer.append(node);
      cursor = { node, timer: 0 };
      this.cursors.set(body.participant_id, cursor);
    }
    cursor.node.querySelector(".remote-cursor__label").textContent = body.name || "";
    cursor.node.style.left = `${body.x * 100}%`;
    cursor.node.style.top = `${body.y * 100}%`;
    cursor.node.hidden = false;
    clearTimeout(cursor.timer);
    cursor.timer = setTimeout(() => (cursor.node.hidden = true), CURSOR_IDLE_MS);
  }

  removeCursor(participantId) {
    const cursor = this.cursors.get(participantId);
    if (!cursor) return;
    clearTimeout(cursor.timer);
    cursor.node.remove();
    this.cursors.delete(participantId);
  }
}
