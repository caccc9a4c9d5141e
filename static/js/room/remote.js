// Remote control (F5, docs/remote-control.md), the meeting page's side: the
// organizers' and presenters' "Allow remote control?" dialog, the requester's panel
// (share a whole screen, pair the desktop helper, wait for consent, stop) and the
// controller's input capture over the stage. The server's `remote.session` events are
// the truth; consent lives in the desktop helper. The room loads it on first need
// (features.js): the request button is pressed, or a session is under way; until then
// the control bar's button (remote-button.js) says whether it can be used.
import { fmt } from "../ui.js";
import { describeError, el, notice } from "./dom.js";
import { CONTROLLER_ROLES } from "./remote-button.js";

const LIVE_STATES = new Set(["requested", "approved", "active"]);
const BUTTONS = ["left", "middle", "right"]; // MouseEvent.button 0, 1, 2
const MOVE_EVERY_MS = 33; // about 30 moves a second, only the latest is sent
const TEXT_FLUSH_MS = 40; // typed characters go out together
const WHEEL_FLUSH_MS = 50;
const WHEEL_UNITS = [100, 3, 1]; // one notch in pixels, lines, pages (WheelEvent.deltaMode)
const MAX_NOTCHES = 10;
const MAX_TEXT = 200;
// The server takes 400 inputs per 10 s: moves stop short of it so that clicks and keys
// still get through.
const RATE_WINDOW_MS = 10000;
const RATE_LIMIT = 400;
const MOVE_LIMIT = 340;
const NAMED_KEYS = new Set([
  "Enter",
  "Tab",
  "Escape",
  "Backspace",
  "Delete",
  "ArrowUp",
  "ArrowDown",
  "ArrowLeft",
  "ArrowRight",
  "Home",
  "End",
  "PageUp",
  "PageDown",
  ...Array.from({ length: 12 }, (_, i) => `F${i + 1}`),
]);

// The translated notice for each way a session ends (the session's `reason`).
function endedText(reason) {
  const texts = {
    stopped: () => gettext("Remote control was stopped."),
    declined: () => gettext("The request for remote control was declined."),
    cancelled: () => gettext("The request for remote control was cancelled."),
    left: () => gettext("Remote control ended: a participant left the meeting."),
    kicked: () => gettext("Remote control ended: a participant was removed from the meeting."),
    role: () => gettext("Remote control ended: the controller is no longer an organizer or presenter."),
    disconnected: () => gettext("Remote control ended: the connection was lost."),
    helper_gone: () => gettext("Remote control ended: the helper program was closed."),
    refused: () => gettext("Remote control was refused on the shared computer."),
    share_ended: () => gettext("Remote control ended: the screen is no longer shared."),
    meeting_end: () => gettext("Remote control ended with the meeting."),
  };
  return (texts[reason] || (() => gettext("Remote control ended.")))();
}

// A key name the helper knows (the server checks the same list), or null.
export function keyName(key) {
  if (NAMED_KEYS.has(key)) return key;
  if (key.length !== 1 || key < " " || key > "~") return null;
  return /[A-Z]/.test(key) ? key.toLowerCase() : key; // Ctrl+Shift+A is "a" with shift
}

function isPrintable(key) {
  return [...key].length === 1 && !/[\u0000-\u001f\u007f]/.test(key);
}

function modifiersOf(event) {
  const names = [];
  if (event.shiftKey) names.push("shift");
  if (event.ctrlKey) names.push("ctrl");
  if (event.altKey) names.push("alt");
  if (event.metaKey) names.push("meta");
  return names;
}

// Where the picture of a `<video>` with object-fit: contain lies inside its box.
export function contentRect(video) {
  const box = video.getBoundingClientRect();
  const { videoWidth: width, videoHeight: height } = video;
  if (!width || !height || !box.width || !box.height) return null;
  const scale = Math.min(box.width / width, box.height / height);
  const shown = { width: width * scale, height: height * scale };
  return { left: box.left + (box.width - shown.width) / 2, top: box.top + (box.height - shown.height) / 2, ...shown };
}

// A pointer position as [0, 1] fractions of the picture; null outside it (or, with
// `clamp`, the nearest edge: a button released outside must still be released).
export function normalisedPoint(rect, clientX, clientY, { clamp = false } = {}) {
  if (!rect) return null;
  let x = (clientX - rect.left) / rect.width;
  let y = (clientY - rect.top) / rect.height;
  if (clamp) {
    x = Math.min(1, Math.max(0, x));
    y = Math.min(1, Math.max(0, y));
  } else if (x < 0 || x > 1 || y < 0 || y > 1) {
    return null;
  }
  const round = (n) => Math.round(n * 1e5) / 1e5;
  return { x: round(x), y: round(y) };
}

export class RemoteControl {
  // `room()` → {self, others, connected}; `share` has shareScreen(accept) (resolves
  // false when accept(track) refused the picked surface), stop(), isSharing();
  // `button` the control bar's RemoteButton.
  constructor({ selfId, request, button, panel, ask, stage, video, helperUrls, room, share }) {
    Object.assign(this, { selfId, request, button, panel, ask, stage, video, helperUrls, room, share });
    this.session = null;
    this.helperPaired = false;
    this.view = "";
    this.answered = new Set(); // sessions this person already answered
    this.askingId = null;
    this.surfaceRefused = false;
    this.sharing = false; // the screen picker is open
    this.pairing = null; // {code, expiresAt}
    this.pairingTimer = 0;
    this.pairingPending = false;
    this.focusedSession = null;
    this.input = { pendingMove: null, lastMoveAt: 0, moveTimer: 0, text: "", textTimer: 0, wheel: null, wheelTimer: 0 };
    this.pressed = new Set();
    this.sent = [];
    this.buildStage();
    this.bind();
  }

  // --- Server state ------------------------------------------------------------------

  // The snapshot's `remote` section: {session, helper_paired}.
  reset(section) {
    const before = this.session;
    // A pairing code belongs to the socket that asked for it: a new socket asks again.
    this.clearPairing();
    this.view = "";
    this.helperPaired = Boolean(section && section.helper_paired);
    const session = section && section.session;
    if (session && LIVE_STATES.has(session.state)) {
      this.onSession(session);
    } else if (before && LIVE_STATES.has(before.state)) {
      // It ended while this page was away.
      this.onSession({ ...before, state: "ended", reason: null });
    } else {
      this.refresh();
    }
  }

  // `remote.helper`: this person's own helper paired, or went away.
  onHelper({ paired }) {
    this.helperPaired = Boolean(paired);
    if (this.isRequester()) this.session = { ...this.session, helper_paired: this.helperPaired };
    this.refresh();
  }

  onRequested(session) {
    this.session = session;
    this.refresh();
  }

  onSession(session) {
    const before = this.session;
    if (before && session.id !== before.id && LIVE_STATES.has(before.state) && session.state !== "ended") {
      this.ended(before, null); // a new session replaced one we missed the end of
    }
    if (this.isRequester(session)) this.helperPaired = session.helper_paired;
    if (session.state === "ended") {
      if (before && before.id !== session.id) return; // an older one: ours goes on
      this.session = null;
      this.ended(session, session.reason);
      this.refresh();
      return;
    }
    this.session = session;
    if (this.askingId === session.id && session.state !== "requested") {
      this.closeAsk();
      if (session.controller_id !== this.selfId && session.controller_name) notice(fmt(gettext("%s took it."), [session.controller_name]), { kind: "info" });
    }
    if (!before || before.id !== session.id) {
      this.surfaceRefused = false;
      this.pairing = null;
    }
    this.refresh();
  }

  ended(session, reason) {
    const involved = this.isRequester(session) || session.controller_id === this.selfId || this.askingId === session.id;
    if (this.askingId === session.id) this.closeAsk();
    if (this.isRequester(session)) this.share.stop();
    this.releaseInput();
    this.clearPairing();
    this.surfaceRefused = false;
    if (involved) notice(endedText(reason), { kind: "info" });
  }

  // --- Who is who --------------------------------------------------------------------

  isRequester(session = this.session) {
    return Boolean(session) && session.requester_id === this.selfId;
  }

  isController(session = this.session) {
    return Boolean(session) && session.controller_id === this.selfId;
  }

  get controlling() {
    return this.isController() && this.session.state === "active";
  }

  mayControl() {
    const { self } = this.room();
    return Boolean(self) && CONTROLLER_ROLES.has(self.role);
  }

  // Why the request button cannot be used now, or "" when it can.
  blockedReason() {
    return this.button.blockedReason(this.session);
  }

  // --- Rendering ---------------------------------------------------------------------

  // Called by the page on every change of people, roles, share or connection.
  refresh() {
    this.renderButton();
    this.maybeAsk();
    this.renderPanel();
    this.renderStage();
  }

  renderButton() {
    this.button.render(this.session);
  }

  // An organizer or presenter sees the dialog for a request they have not answered
  // (also after a reconnection or a promotion).
  maybeAsk() {
    const session = this.session;
    const shouldAsk =
      session && session.state === "requested" && !this.isRequester(session) && this.mayControl() && !this.answered.has(session.id);
    if (shouldAsk && this.askingId !== session.id) this.openAsk(session);
    else if (!shouldAsk && this.askingId !== null) this.closeAsk();
  }

  openAsk(session) {
    this.askingId = session.id;
    this.ask.querySelector("#remote-ask-text").textContent = fmt(gettext("%s asks for remote control. Allow remote control?"), [
      session.requester_name,
    ]);
    this.ask.returnValue = "";
    if (!this.ask.open) this.ask.showModal();
    this.ask.querySelector("#remote-ask-no").focus();
  }

  closeAsk() {
    this.askingId = null;
    if (this.ask.open) this.ask.close("");
  }

  async answer(sessionId, allow) {
    this.answered.add(sessionId);
    try {
      await this.request("remote.answer", { session_id: sessionId, allow });
    } catch (error) {
      const texts = {
        remote_taken: () => error.message || gettext("Someone else took it."),
        not_found: () => gettext("This request for remote control is no longer open."),
      };
      if (allow || error.code !== "not_found") notice((texts[error.code] || (() => describeError(error)))(), { kind: "info" });
    }
  }

  // What the floating panel shows now ("" for nothing).
  currentView() {
    const session = this.session;
    if (!session) return "";
    if (this.isRequester(session)) {
      if (session.state === "requested") return "waiting";
      if (!this.share.isSharing()) return this.surfaceRefused ? "share-again" : "share";
      if (!session.helper_paired) return "helper";
      return session.state === "active" ? "controlled" : "consent";
    }
    if (this.isController(session)) {
      if (session.state === "approved") return "controller-waiting";
      return this.stageShowsSession() ? "" : "controlling";
    }
    return "";
  }

  renderPanel() {
    const view = this.currentView();
    const session = this.session;
    const key = view && `${view}:${session.id}:${session.controller_name || ""}:${this.sharing}`;
    if (key === this.view) return;
    const hadFocus = this.panel.contains(document.activeElement) || document.activeElement === this.button.button;
    this.view = key;
    this.panel.dataset.view = view;
    this.panel.hidden = !view;
    if (!view) {
      this.panel.replaceChildren();
      return;
    }
    const title = el("h2", "remote-panel__title", gettext("Remote control"));
    title.id = "remote-panel-title";
    title.tabIndex = -1;
    const body = this[`${view.replace(/-(\w)/g, (_, c) => c.toUpperCase())}View`](session);
    this.panel.replaceChildren(title, ...body);
    if (view === "helper") this.ensurePairing();
    if (hadFocus) (this.panel.querySelector("[data-primary]") || title).focus();
  }

  stopButton(label = gettext("Stop")) {
    const button = el("button", "button button--small button--danger remote-panel__stop", label);
    button.type = "button";
    button.dataset.action = "stop";
    return button;
  }

  actionButton(action, label, { primary = false } = {}) {
    const button = el("button", `button button--small${primary ? " button--primary" : ""}`, label);
    button.type = "button";
    button.dataset.action = action;
    if (primary) button.dataset.primary = "true";
    return button;
  }

  row(...buttons) {
    const row = el("p", "remote-panel__actions");
    row.append(...buttons);
    return row;
  }

  status(text) {
    const node = el("p", "remote-panel__status", text);
    node.setAttribute("role", "status");
    return node;
  }

  waitingView() {
    const stop = this.stopButton(gettext("Cancel"));
    stop.dataset.primary = "true";
    return [this.status(gettext("Waiting for an organizer or presenter to accept…")), this.row(stop)];
  }

  shareView(session) {
    const share = this.actionButton("share", gettext("Share my screen"), { primary: true });
    share.disabled = this.sharing;
    return [
      this.status(fmt(gettext("%s accepted. Now share your screen so that they can see it."), [session.controller_name])),
      el("p", "remote-panel__hint", gettext("Choose your entire screen: remote control needs the whole screen, not a window or a browser tab.")),
      this.row(share, this.stopButton()),
    ];
  }

  shareAgainView() {
    const again = this.actionButton("share", gettext("Choose again"), { primary: true });
    again.disabled = this.sharing;
    const problem = el("p", "remote-panel__problem", gettext("You chose a window or a tab. Remote control needs your whole screen: choose “Entire screen”."));
    problem.setAttribute("role", "alert");
    return [problem, this.row(again, this.stopButton())];
  }

  helperView() {
    // The download for this computer's system, chosen by the server (meetings/remote/downloads.py):
    // ready to run (parley-helper.pyz on Linux, a program the operator provides), or the
    // Python script with the libraries to install first.
    const link = el("a", "button button--small button--primary", gettext("Download the helper"));
    link.href = this.helperUrls.download;
    link.download = this.helperUrls.file;
    link.dataset.primary = "true";
    link.id = "remote-helper-download";
    const steps = el("ol", "remote-steps");
    const install = el("li", "", gettext("Install Python 3, then run:"));
    install.append(" ", el("code", "", this.helperUrls.install));
    install.hidden = !this.helperUrls.install;
    const run = el("li", "", gettext("Run the helper:"));
    this.commandNode = el("code", "remote-command", "");
    this.commandNode.id = "remote-command";
    run.append(" ", this.commandNode);
    const consent = el("li", "", gettext("Accept in the helper's window when it asks you."));
    const download = el("li");
    const help = el("a", "remote-steps__help", gettext("More help"));
    help.href = this.helperUrls.help;
    help.target = "_blank";
    help.rel = "noopener";
    download.append(link, " ", help);
    steps.append(download, install, run, consent);
    this.codeNode = el("strong", "remote-code", "…");
    this.codeNode.id = "remote-code";
    // The countdown is not read out every second; the live line says what changed.
    this.codeStatus = el("span", "remote-code__status", "");
    this.codeAnnounce = el("span", "visually-hidden");
    this.codeAnnounce.setAttribute("role", "status");
    const code = el("p", "remote-code__line", gettext("Pairing code:"));
    code.append(" ", this.codeNode, " ", this.codeStatus, this.codeAnnounce);
    this.copyButton = this.actionButton("copy", gettext("Copy the command"));
    this.newCodeButton = this.actionButton("new-code", gettext("New code"));
    this.newCodeButton.hidden = true;
    return [
      this.status(gettext("To let the controller use your mouse and keyboard, run the Parley helper on this computer.")),
      steps,
      code,
      this.row(this.copyButton, this.newCodeButton, this.stopButton()),
    ];
  }

  consentView() {
    return [this.status(gettext("Waiting for you to allow it in the Parley helper…")), this.row(this.stopButton())];
  }

  controlledView(session) {
    const stop = this.stopButton();
    stop.dataset.primary = "true";
    return [this.status(fmt(gettext("%s is controlling your screen."), [session.controller_name])), this.row(stop)];
  }

  controllerWaitingView(session) {
    return [
      this.status(fmt(gettext("Waiting for %s to share their screen and to accept in the helper program…"), [session.requester_name])),
      this.row(this.stopButton()),
    ];
  }

  controllingView(session) {
    return [this.status(fmt(gettext("You are controlling %s's screen."), [session.requester_name])), this.row(this.stopButton())];
  }

  // --- The requester: share, pairing code ---------------------------------------------

  async shareScreen() {
    if (this.sharing || !navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
      if (!this.sharing) notice(gettext("This browser cannot share its screen."), { kind: "error" });
      return;
    }
    this.sharing = true;
    this.renderPanel();
    try {
      // A window or a browser tab cannot be controlled: the helper acts on a screen.
      const accepted = await this.share.shareScreen((track) => !["window", "browser"].includes(track.getSettings().displaySurface));
      this.surfaceRefused = !accepted;
    } catch (error) {
      if (error.code === "share_busy") notice(gettext("Someone else is sharing. Ask them to stop, then share again."));
      else if (error.code) notice(describeError(error), { kind: "error" });
      // NotAllowedError: the picker was closed; the panel still offers to share.
      else if (error.name !== "NotAllowedError") notice(gettext("The screen could not be shared."), { kind: "error" });
    } finally {
      this.sharing = false;
      this.refresh();
    }
  }

  async ensurePairing() {
    if (this.pairing && this.pairing.expiresAt > Date.now()) {
      this.showPairing();
      return;
    }
    await this.newPairing();
  }

  async newPairing() {
    if (this.pairingPending) return;
    this.clearPairing();
    if (this.newCodeButton) this.newCodeButton.hidden = true;
    this.pairingPending = true;
    try {
      const { code, expires_in: seconds } = await this.request("remote.pair", {});
      this.pairing = { code, expiresAt: Date.now() + seconds * 1000 };
      if (this.codeAnnounce) this.codeAnnounce.textContent = "";
    } catch (error) {
      if (this.codeAnnounce) this.codeAnnounce.textContent = describeError(error);
      if (this.newCodeButton) this.newCodeButton.hidden = false;
      return;
    } finally {
      this.pairingPending = false;
    }
    this.pairingTimer = setInterval(() => this.showPairing(), 1000);
    this.showPairing();
  }

  showPairing() {
    if (!this.codeNode || !this.pairing) return;
    const left = Math.max(0, Math.ceil((this.pairing.expiresAt - Date.now()) / 1000));
    const expired = left === 0;
    this.codeNode.textContent = this.pairing.code;
    this.codeNode.dataset.expired = expired ? "true" : "false";
    this.commandNode.textContent = this.command();
    this.copyButton.disabled = expired;
    this.newCodeButton.hidden = !expired;
    const time = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
    this.codeStatus.textContent = expired ? "" : fmt(gettext("(valid for %s)"), [time]);
    if (expired) {
      this.codeAnnounce.textContent = gettext("This code has expired.");
      clearInterval(this.pairingTimer);
    }
  }

  command() {
    const code = this.pairing ? this.pairing.code : "XXXX-XXXX";
    // The helper speaks English or French: a French page asks for French (otherwise it
    // follows the computer's language settings).
    const lang = document.documentElement.lang.toLowerCase().startsWith("fr") ? " --lang fr" : "";
    return `${this.helperUrls.run} --server ${location.origin} --code ${code}${lang}`;
  }

  clearPairing() {
    clearInterval(this.pairingTimer);
    this.pairingTimer = 0;
    this.pairing = null;
  }

  async copyCommand() {
    try {
      await navigator.clipboard.writeText(this.command());
      this.codeAnnounce.textContent = gettext("Copied.");
    } catch {
      // No clipboard (an insecure page, or refused): select the text to copy by hand.
      const range = document.createRange();
      range.selectNodeContents(this.commandNode);
      const selection = getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
  }

  // --- The controller: the stage and its input capture --------------------------------

  buildStage() {
    this.capture = el("div", "remote-capture");
    this.capture.tabIndex = 0;
    this.capture.hidden = true;
    this.capture.setAttribute("role", "application");
    this.capture.setAttribute("aria-roledescription", gettext("remote screen"));
    this.stageLabel = el("span", "remote-stage__label");
    this.stageHint = el("span", "remote-stage__hint", gettext("Keys go to the shared screen while it has focus. Shift+Esc gives them back."));
    this.stageStop = this.stopButton();
    this.stageStop.className = "stage__button stage__button--stop remote-stage__stop";
    this.stageBar = el("div", "remote-stage");
    this.stageBar.hidden = true;
    this.stageBar.append(this.stageLabel, this.stageHint, this.stageStop);
    this.capture.setAttribute("aria-describedby", "remote-stage-hint");
    this.stageHint.id = "remote-stage-hint";
    this.stage.append(this.capture, this.stageBar);
  }

  // The stage shows this session's screen (the requester's share).
  stageShowsSession() {
    const stage = this.stage;
    return Boolean(this.session) && !stage.hidden && stage.dataset.kind !== "presentation" && stage.dataset.sharerId === String(this.session.requester_id);
  }

  renderStage() {
    const on = this.controlling && this.stageShowsSession();
    this.capture.hidden = !on;
    this.stageBar.hidden = !on;
    if (on) this.stage.dataset.remote = "controlling";
    else delete this.stage.dataset.remote;
    if (!on) {
      this.releaseInput();
      return;
    }
    this.stageLabel.textContent = fmt(gettext("You are controlling %s's screen"), [this.session.requester_name]);
    this.capture.setAttribute("aria-label", this.stageLabel.textContent);
    // Once per session: the keyboard goes to the screen the controller just accepted.
    if (this.focusedSession !== this.session.id) {
      this.focusedSession = this.session.id;
      const active = document.activeElement;
      if (!active || active === document.body || this.panel.contains(active) || this.ask.contains(active)) this.capture.focus();
    }
  }

  point(event, options) {
    return normalisedPoint(contentRect(this.video), event.clientX, event.clientY, options);
  }

  // Sends one input event, only while this person controls an active session.
  send(event, { move = false } = {}) {
    if (!this.controlling) return false;
    const now = performance.now();
    while (this.sent.length && now - this.sent[0] > RATE_WINDOW_MS) this.sent.shift();
    if (this.sent.length >= (move ? MOVE_LIMIT : RATE_LIMIT)) return false;
    this.sent.push(now);
    this.request("remote.input", { session_id: this.session.id, event }).catch((error) => {
      if (error.code === "rate_limited") notice(gettext("Too many actions at once: some were not sent."), { kind: "info", timeoutMs: 3000 });
    });
    return true;
  }

  queueMove(point) {
    const input = this.input;
    input.pendingMove = point;
    if (input.moveTimer) return;
    const wait = Math.max(0, input.lastMoveAt + MOVE_EVERY_MS - performance.now());
    input.moveTimer = setTimeout(() => this.flushMove(), wait);
  }

  flushMove() {
    const input = this.input;
    clearTimeout(input.moveTimer);
    input.moveTimer = 0;
    if (!input.pendingMove) return;
    const point = input.pendingMove;
    input.pendingMove = null;
    input.lastMoveAt = performance.now();
    this.send({ kind: "move", ...point }, { move: true });
  }

  queueText(text) {
    const input = this.input;
    if ([...input.text].length >= MAX_TEXT) this.flushText();
    input.text += text;
    if (!input.textTimer) input.textTimer = setTimeout(() => this.flushText(), TEXT_FLUSH_MS);
  }

  flushText() {
    const input = this.input;
    clearTimeout(input.textTimer);
    input.textTimer = 0;
    if (!input.text) return;
    const text = input.text;
    input.text = "";
    this.send({ kind: "text", text });
  }

  queueWheel(event, point) {
    const input = this.input;
    const unit = WHEEL_UNITS[event.deltaMode] || WHEEL_UNITS[0];
    const wheel = input.wheel || { dx: 0, dy: 0 };
    input.wheel = { dx: wheel.dx + event.deltaX / unit, dy: wheel.dy + event.deltaY / unit, point };
    if (!input.wheelTimer) input.wheelTimer = setTimeout(() => this.flushWheel(), WHEEL_FLUSH_MS);
  }

  flushWheel() {
    const input = this.input;
    clearTimeout(input.wheelTimer);
    input.wheelTimer = 0;
    const wheel = input.wheel;
    if (!wheel) return;
    // Whole notches go now; the rest waits for the next turn of the wheel.
    const notches = (value) => Math.max(-MAX_NOTCHES, Math.min(MAX_NOTCHES, Math.trunc(value)));
    const dx = notches(wheel.dx);
    const dy = notches(wheel.dy);
    input.wheel = dx || dy ? null : wheel;
    if (dx || dy) this.send({ kind: "wheel", ...wheel.point, dx, dy });
  }

  // Before a click or a key: what was typed or moved before it goes first.
  flushAll() {
    this.flushText();
    this.flushMove();
  }

  // Buttons still held go up (on stop, on blur): nothing stays pressed over there.
  releaseInput() {
    const input = this.input;
    clearTimeout(input.moveTimer);
    clearTimeout(input.textTimer);
    clearTimeout(input.wheelTimer);
    if (this.controlling) {
      this.flushText();
      for (const button of this.pressed) this.send({ kind: "up", ...(input.lastPoint || { x: 0, y: 0 }), button });
    }
    Object.assign(input, { pendingMove: null, moveTimer: 0, text: "", textTimer: 0, wheel: null, wheelTimer: 0 });
    this.pressed.clear();
  }

  // Listened to on the window: a drag goes on outside the picture (at its edge).
  onMouseMove(event) {
    if (!this.controlling || (!this.pressed.size && event.target !== this.capture)) return;
    const point = this.point(event, { clamp: this.pressed.size > 0 });
    if (!point) return;
    this.input.lastPoint = point;
    this.queueMove(point);
  }

  onMouseDown(event) {
    if (!this.controlling) return;
    const button = BUTTONS[event.button];
    const point = this.point(event);
    if (!button || !point) return;
    event.preventDefault();
    this.capture.focus();
    this.flushAll();
    this.pressed.add(button);
    this.input.lastPoint = point;
    this.send({ kind: "down", ...point, button });
  }

  // Listened to on the window: a button pressed on the screen may be released anywhere.
  onMouseUp(event) {
    const button = BUTTONS[event.button];
    if (!this.pressed.has(button)) return;
    this.pressed.delete(button);
    const point = this.point(event, { clamp: true }) || this.input.lastPoint;
    this.flushAll();
    this.send({ kind: "up", ...point, button });
  }

  onWheel(event) {
    if (!this.controlling) return;
    const point = this.point(event);
    if (!point) return;
    event.preventDefault();
    this.queueWheel(event, point);
  }

  onKeyDown(event) {
    if (event.key === "Escape" && event.shiftKey) {
      // The way out for the keyboard: focus goes to the Stop button.
      event.preventDefault();
      this.stageStop.focus();
      return;
    }
    if (!this.controlling || event.isComposing) return;
    const altGraph = event.getModifierState && event.getModifierState("AltGraph");
    const chord = (event.ctrlKey || event.altKey || event.metaKey) && !altGraph;
    if (!chord && isPrintable(event.key)) {
      event.preventDefault();
      this.queueText(event.key);
      return;
    }
    const key = keyName(event.key);
    if (!key) return; // a modifier alone, or a key the helper does not know
    event.preventDefault();
    this.flushAll();
    this.send({ kind: "key", key, action: "press", modifiers: modifiersOf(event) });
  }

  // --- Wiring --------------------------------------------------------------------------

  // (The request button is the core's: it calls onButton.)
  bind() {
    this.panel.addEventListener("click", (event) => {
      const action = event.target.closest("[data-action]")?.dataset.action;
      if (action) this.onAction(action);
    });
    this.stageStop.addEventListener("click", () => this.stop());
    this.ask.addEventListener("close", () => {
      const sessionId = this.askingId;
      // Closed by the page (taken, ended), maybe already open again for a newer request.
      if (sessionId === null || this.ask.open) return;
      this.askingId = null;
      this.answer(sessionId, this.ask.returnValue === "yes");
    });
    const capture = this.capture;
    window.addEventListener("mousemove", (event) => this.onMouseMove(event));
    capture.addEventListener("mousedown", (event) => this.onMouseDown(event));
    window.addEventListener("mouseup", (event) => this.onMouseUp(event));
    capture.addEventListener("wheel", (event) => this.onWheel(event), { passive: false });
    capture.addEventListener("keydown", (event) => this.onKeyDown(event));
    capture.addEventListener("contextmenu", (event) => event.preventDefault());
    window.addEventListener("blur", () => this.releaseInput());
  }

  async onButton() {
    if (this.blockedReason()) {
      this.button.explain();
      return;
    }
    if (this.session) {
      this.panel.hidden = false;
      (this.panel.querySelector("[data-primary]") || this.panel.querySelector("h2"))?.focus();
      return;
    }
    try {
      const { session_id: id } = await this.request("remote.request", {});
      // The session event may come before or after the ack.
      if (!this.session || this.session.id !== id) {
        const { self } = this.room();
        const blank = { controller_id: null, controller_name: null, consent: null, reason: null };
        this.onSession({ ...blank, id, state: "requested", requester_id: this.selfId, requester_name: self.name, helper_paired: this.helperPaired });
      }
      this.panel.querySelector("[data-primary]")?.focus();
    } catch (error) {
      const texts = {
        no_controller: () => gettext("No organizer or presenter other than you is in the meeting to take control."),
        remote_busy: () => gettext("Remote control is already in use in this meeting."),
      };
      notice((texts[error.code] || (() => describeError(error)))());
    }
  }

  onAction(action) {
    if (action === "stop") this.stop();
    else if (action === "share") this.shareScreen();
    else if (action === "copy") this.copyCommand();
    else if (action === "new-code") this.newPairing();
  }

  async stop() {
    const session = this.session;
    if (!session) return;
    this.releaseInput();
    try {
      await this.request("remote.stop", { session_id: session.id });
    } catch (error) {
      if (error.code !== "not_found") notice(describeError(error), { kind: "error" });
    }
  }

  // The page is closing: timers off, dialog closed.
  close() {
    this.releaseInput();
    this.clearPairing();
    this.closeAsk();
  }

  // For tests (window.parleyRoom.remote).
  get state() {
    return {
      session: this.session && { ...this.session },
      helperPaired: this.helperPaired,
      view: this.panel.dataset.view || "",
      controlling: this.controlling,
      code: this.pairing ? this.pairing.code : null,
      buttonBlocked: this.blockedReason(),
    };
  }
}

// The room's remote-control feature (features.js): built the first time the room needs it.
export function setup(room) {
  const panel = document.getElementById("remote-panel");
  const remote = new RemoteControl({
    selfId: room.selfId,
    request: room.request,
    button: room.remoteButton,
    panel,
    ask: document.getElementById("remote-ask"),
    stage: document.getElementById("stage"),
    video: document.getElementById("stage-video"),
    helperUrls: {
      download: panel.dataset.helperUrl,
      file: panel.dataset.helperFile,
      run: panel.dataset.helperRun,
      install: panel.dataset.helperInstall,
      help: panel.dataset.helpUrl,
    },
    room: () => ({ self: room.self, others: room.others, connected: room.connected }),
    share: {
      shareScreen: (accept) => room.shareScreen("remote", { video: { displaySurface: "monitor" }, accept }),
      stop: () => room.shareKind === "remote" && room.stopShare({ tellServer: false }),
      isSharing: () => room.sharingScreen && room.shareKind === "remote",
    },
  });
  remote.refresh();
  const events = {
    "remote.requested": (session) => remote.onRequested(session),
    "remote.session": (session) => remote.onSession(session),
    "remote.helper": (body) => remote.onHelper(body),
  };
  return {
    snapshot: (section) => remote.reset(section),
    onEvent: (type, body) => events[type]?.(body),
    // Who is here, the share on the stage or the connection changed.
    roomChanged: () => remote.refresh(),
    press: () => remote.onButton(),
    close: () => remote.close(),
    get state() {
      return remote.state;
    },
  };
}
