// Meeting-room settings (F17): the Settings dialog with its device test, loaded the
// first time the person opens it (features.js). The choices, their constraints and
// sender limits are preferences.js's, which the room uses from the start.
// Plain ES module, no build step. Text goes through gettext() from Django's /jsi18n/ catalog.
import { applySinkId, audioConstraints, loadSettings, saveSettings, speakingThreshold, videoConstraints } from "./preferences.js";
import { element, hidePanel, isPanelOpen, panelHeader, showPanel } from "./panels.js";

// Late-bound so the catalog may load after this module; identity when it is missing
// (a page without /jsi18n/ still works, in English).
function gettext(text) {
  return typeof window.gettext === "function" ? window.gettext(text) : text;
}

function interpolate(text, values) {
  if (typeof window.interpolate === "function") return window.interpolate(text, values);
  const rest = [...values];
  return text.replace(/%s/g, () => String(rest.shift()));
}

// --- Level meter ------------------------------------------------------------------------

// The meter shows −60..0 dBFS: linear RMS would squeeze speech into the first tenth.
function meterPosition(rms) {
  if (!(rms > 0)) return 0;
  const db = 20 * Math.log10(rms);
  return Math.max(0, Math.min(100, ((db + 60) / 60) * 100));
}

function levelMeter(label) {
  const bar = element("span", { className: "rp-meter__bar" });
  const line = element("span", { className: "rp-meter__threshold", title: gettext("Speaking threshold") });
  const node = element(
    "div",
    { className: "rp-meter", role: "meter", "aria-label": label, "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0" },
    bar,
    line,
  );
  return { node, bar, line };
}

function startAnalyser(stream, onLevel) {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context || stream.getAudioTracks().length === 0) return null;
  const context = new Context();
  context.resume().catch(() => {});
  const analyser = context.createAnalyser();
  analyser.fftSize = 2048;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const state = { context, frame: 0 };
  const measure = () => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const sample of samples) sum += sample * sample;
    onLevel(Math.sqrt(sum / samples.length));
    state.frame = requestAnimationFrame(measure);
  };
  measure();
  return state;
}

function stopAnalyser(state) {
  if (!state) return;
  cancelAnimationFrame(state.frame);
  state.context.close().catch(() => {});
}

// --- Devices ------------------------------------------------------------------------------

const sinkSupported = () => typeof HTMLMediaElement !== "undefined" && "setSinkId" in HTMLMediaElement.prototype;

const MEDIA_PROBLEMS = {
  NotAllowedError: () => gettext("You did not allow the camera and microphone. Allow them in your browser's address bar, then press Start again."),
  NotFoundError: () => gettext("No camera or microphone was found."),
  NotReadableError: () => gettext("The camera or microphone is busy in another application."),
  SecurityError: () => gettext("This page may not use the camera and microphone."),
};

function describeProblem(error) {
  return (MEDIA_PROBLEMS[error?.name] || (() => gettext("The camera and microphone could not be started.")))();
}

const RETRYABLE = new Set(["NotFoundError", "OverconstrainedError", "NotReadableError"]);

function withoutDevice(constraints) {
  const { deviceId, ...rest } = constraints;
  return rest;
}

// Both devices when possible; a chosen device that is gone falls back to the default;
// a missing or busy one leaves the other alone.
async function openTestStream(settings) {
  const audio = audioConstraints(settings);
  const video = videoConstraints(settings);
  const attempts = [
    { audio, video },
    { audio: withoutDevice(audio), video: withoutDevice(video) },
    { audio: withoutDevice(audio) },
    { video: withoutDevice(video) },
  ];
  let firstError = null;
  for (const constraints of attempts) {
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch (error) {
      firstError ||= error;
      if (!RETRYABLE.has(error.name)) throw error;
    }
  }
  throw firstError;
}

let panelCount = 0;

const KIND_FALLBACK = {
  audioinput: () => gettext("Microphone %s"),
  audiooutput: () => gettext("Speakers %s"),
  videoinput: () => gettext("Camera %s"),
};

export class SettingsPanel {
  constructor(rootElement, { onChange } = {}) {
    this.root = rootElement;
    this.onChange = typeof onChange === "function" ? onChange : () => {};
    this.settings = loadSettings();
    this.level = 0; // latest microphone RMS of the device test, for the meter and tests
    this.test = null;
    this.testToken = 0;
    this.sound = null;
    this.id = `rp-settings-${++panelCount}`;
    this.controls = {};
    this.threshold = speakingThreshold(this.settings);
    this.build();
    this.syncControls();
    this.root.addEventListener("close", () => this.stopAll());
    navigator.mediaDevices?.addEventListener?.("devicechange", () => {
      if (isPanelOpen(this.root)) this.refreshDevices();
    });
  }

  open() {
    this.settings = loadSettings();
    this.syncControls();
    this.testStatus.textContent = "";
    showPanel(this.root);
    this.refreshDevices();
  }

  close() {
    this.stopAll();
    hidePanel(this.root);
  }

  // --- Building ---------------------------------------------------------------------------

  build() {
    const root = this.root;
    root.classList.add("rp-dialog", "rp-settings");
    root.setAttribute("aria-labelledby", `${this.id}-title`);
    root.replaceChildren(
      panelHeader(root, `${this.id}-title`, gettext("Settings"), () => this.close()),
      element("div", { className: "rp-body" }, this.buildTest(), this.buildAudio(), this.buildVideo()),
    );
  }

  field(name, label, control, hint) {
    control.id = `${this.id}-${name}`;
    control.name = name;
    if (hint) {
      hint.id = `${this.id}-${name}-hint`;
      control.setAttribute("aria-describedby", hint.id);
    }
    return element("div", { className: "rp-field" }, element("label", { for: control.id, text: label }), control, hint);
  }

  select(name, label, choices, hint) {
    const control = element("select", { onchange: () => this.change(name, control.value) });
    for (const [value, text] of choices) control.append(element("option", { value, text }));
    this.controls[name] = control;
    return this.field(name, label, control, hint);
  }

  checkbox(name, label) {
    const control = element("input", { type: "checkbox", id: `${this.id}-${name}`, name, onchange: () => this.change(name, control.checked) });
    this.controls[name] = control;
    return element("div", { className: "rp-check" }, control, element("label", { for: control.id, text: label }));
  }

  buildTest() {
    this.preview = element("video", { className: "rp-preview__video", muted: true, playsinline: true, autoplay: true, hidden: true });
    this.preview.muted = true; // the attribute alone does not mute a srcObject stream
    this.previewNote = element("p", { className: "rp-preview__note", text: gettext("Camera preview") });
    this.testMeter = levelMeter(gettext("Microphone level (device test)"));
    this.testButton = element("button", { type: "button", className: "rp-button rp-button--primary rp-test-toggle", onclick: () => this.toggleTest() });
    this.soundButton = element("button", { type: "button", className: "rp-button rp-test-sound", text: gettext("Play test sound"), onclick: () => this.playTestSound() });
    this.testStatus = element("p", { className: "rp-status", role: "status" });
    this.showTestState(false);
    return element(
      "section",
      { className: "rp-section rp-test", "aria-labelledby": `${this.id}-test-title` },
      element("h3", { id: `${this.id}-test-title`, text: gettext("Device test") }),
      element(
        "div",
        { className: "rp-test__grid" },
        element("div", { className: "rp-preview" }, this.preview, this.previewNote),
        element(
          "div",
          { className: "rp-test__side" },
          element("p", { className: "rp-label", id: `${this.id}-test-level`, text: gettext("Microphone level") }),
          this.testMeter.node,
          element("div", { className: "rp-actions" }, this.testButton, this.soundButton),
          this.testStatus,
        ),
      ),
    );
  }

  buildAudio() {
    this.deviceNote = element("p", { className: "rp-note", hidden: true, text: gettext("Device names appear once you allow the camera and microphone: press Start in the device test.") });
    this.sinkNote = element("p", {
      className: "rp-note",
      hidden: true,
      text: gettext("This browser cannot choose the speakers (for example Firefox without this feature): sound plays on the system's default output. Choose it in your system's sound settings."),
    });
    const speakers = this.select("speakerId", gettext("Speakers"), [["", gettext("System default")]]);
    this.speakerField = speakers;
    const sensitivity = element("input", {
      type: "range",
      min: "0",
      max: "100",
      step: "1",
      oninput: () => this.showThreshold(Number(sensitivity.value)),
      onchange: () => this.change("sensitivity", Number(sensitivity.value)),
    });
    this.controls.sensitivity = sensitivity;
    this.sensitivityValue = element("output", { className: "rp-value", for: `${this.id}-sensitivity` });
    this.sensitivityMeter = levelMeter(gettext("Microphone level against the speaking threshold"));
    const hint = element("p", { className: "rp-hint", text: gettext("Higher sensitivity counts quieter speech as speaking. The line on the meter is the threshold; start the device test to see your level.") });
    const sensitivityField = this.field("sensitivity", gettext("Sensitivity"), sensitivity, hint);
    sensitivityField.querySelector("label").append(" ", this.sensitivityValue);
    sensitivityField.insertBefore(this.sensitivityMeter.node, hint);
    return element(
      "section",
      { className: "rp-section", "aria-labelledby": `${this.id}-audio-title` },
      element("h3", { id: `${this.id}-audio-title`, text: gettext("Audio") }),
      this.deviceNote,
      element(
        "div",
        { className: "rp-grid" },
        this.select("micId", gettext("Microphone"), [["", gettext("System default")]]),
        speakers,
        this.select(
          "audioQuality",
          gettext("Audio quality"),
          [
            ["auto", gettext("Automatic")],
            ["low", gettext("Low (16 kbit/s)")],
            ["medium", gettext("Medium (32 kbit/s)")],
            ["high", gettext("High (64 kbit/s)")],
          ],
          element("p", { className: "rp-hint", text: gettext("Automatic picks 16, 32 or 64 kbit/s from the bandwidth measured on each connection.") }),
        ),
      ),
      this.sinkNote,
      sensitivityField,
      element(
        "fieldset",
        { className: "rp-checks" },
        element("legend", { text: gettext("Audio processing") }),
        this.checkbox("autoGainControl", gettext("Automatic gain control")),
        this.checkbox("echoCancellation", gettext("Echo cancellation")),
        this.checkbox("noiseSuppression", gettext("Noise suppression")),
      ),
    );
  }

  buildVideo() {
    return element(
      "section",
      { className: "rp-section", "aria-labelledby": `${this.id}-video-title` },
      element("h3", { id: `${this.id}-video-title`, text: gettext("Video") }),
      element(
        "div",
        { className: "rp-grid" },
        this.select("cameraId", gettext("Camera"), [["", gettext("System default")]]),
        this.select("videoQuality", gettext("Video quality"), [
          ["low", gettext("Low (320×180, 15 fps)")],
          ["medium", gettext("Medium (640×360, 24 fps)")],
          ["high", gettext("High (960×540, 30 fps)")],
          ["hd", gettext("HD (1280×720, 30 fps)")],
        ]),
      ),
    );
  }

  // --- State ↔ controls ---------------------------------------------------------------

  syncControls() {
    const s = this.settings;
    for (const name of ["audioQuality", "videoQuality"]) this.controls[name].value = s[name];
    for (const name of ["autoGainControl", "echoCancellation", "noiseSuppression"]) this.controls[name].checked = s[name];
    this.controls.sensitivity.value = String(s.sensitivity);
    this.showThreshold(s.sensitivity);
    for (const name of ["micId", "speakerId", "cameraId"]) this.selectDevice(this.controls[name], s[name]);
  }

  showThreshold(sensitivity) {
    const threshold = speakingThreshold({ sensitivity });
    const left = `${meterPosition(threshold)}%`;
    this.sensitivityValue.textContent = String(sensitivity);
    this.controls.sensitivity.setAttribute("aria-valuetext", interpolate(gettext("%s of 100"), [sensitivity]));
    this.threshold = threshold;
    for (const meter of [this.testMeter, this.sensitivityMeter]) meter.line.style.left = left;
  }

  change(name, value) {
    this.settings = saveSettings({ ...this.settings, [name]: value });
    if (name === "sensitivity") this.showThreshold(this.settings.sensitivity);
    if (this.test && RESTARTS_TEST.has(name)) this.startTest();
    this.onChange({ ...this.settings }, name);
  }

  // --- Device lists --------------------------------------------------------------------

  async refreshDevices() {
    if (!navigator.mediaDevices?.enumerateDevices) return;
    let devices = [];
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch {
      devices = [];
    }
    const unnamed = devices.some((device) => device.kind !== "audiooutput" && !device.label);
    this.deviceNote.hidden = !unnamed;
    this.fillDevices(this.controls.micId, devices, "audioinput", this.settings.micId);
    this.fillDevices(this.controls.cameraId, devices, "videoinput", this.settings.cameraId);
    const canChoose = sinkSupported();
    this.speakerField.hidden = !canChoose;
    this.sinkNote.hidden = canChoose;
    if (canChoose) this.fillDevices(this.controls.speakerId, devices, "audiooutput", this.settings.speakerId);
  }

  fillDevices(select, devices, kind, chosen) {
    const options = [element("option", { value: "", text: gettext("System default") })];
    let count = 0;
    for (const device of devices) {
      // Without permission Chromium lists one anonymous entry per kind; "default" is the "" entry.
      if (device.kind !== kind || !device.deviceId || device.deviceId === "default") continue;
      count += 1;
      options.push(element("option", { value: device.deviceId, text: device.label || interpolate(KIND_FALLBACK[kind](), [count]) }));
    }
    select.replaceChildren(...options);
    this.selectDevice(select, chosen);
  }

  // A remembered device that is not plugged in stays visible, so the choice is not lost silently.
  selectDevice(select, chosen) {
    if (chosen && ![...select.options].some((option) => option.value === chosen)) {
      select.append(element("option", { value: chosen, text: gettext("Saved device (not available now)") }));
    }
    select.value = chosen;
  }

  // --- Device test -----------------------------------------------------------------------

  toggleTest() {
    if (this.test) {
      this.stopTest();
      this.testStatus.textContent = gettext("Device test stopped.");
    } else {
      this.startTest();
    }
  }

  showTestState(running) {
    this.testButton.textContent = running ? gettext("Stop") : gettext("Start");
    this.testButton.setAttribute("aria-pressed", running ? "true" : "false");
  }

  async startTest() {
    this.stopTest();
    const token = ++this.testToken;
    if (!navigator.mediaDevices?.getUserMedia) {
      this.testStatus.textContent = gettext("This browser cannot use a camera or microphone here (it needs a secure HTTPS connection).");
      return;
    }
    this.testStatus.textContent = gettext("Starting the camera and microphone…");
    let stream;
    try {
      stream = await openTestStream(this.settings);
    } catch (error) {
      if (token === this.testToken) this.testStatus.textContent = describeProblem(error);
      return;
    }
    // Stopped or restarted while the browser was asking: drop this stream.
    if (token !== this.testToken || !isPanelOpen(this.root)) {
      for (const track of stream.getTracks()) track.stop();
      return;
    }
    this.test = { stream, analyser: startAnalyser(stream, (rms) => this.showLevel(rms)) };
    const hasVideo = stream.getVideoTracks().length > 0;
    this.preview.srcObject = hasVideo ? stream : null;
    this.preview.hidden = !hasVideo;
    this.previewNote.hidden = hasVideo;
    this.previewNote.textContent = gettext("No camera");
    this.testStatus.textContent = describeStream(stream);
    this.showTestState(true);
    this.refreshDevices();
  }

  showLevel(rms) {
    this.level = rms;
    // The bar falls back slowly (about 20 dB per second) so short sounds stay readable.
    this.shown = Math.max(rms, (this.shown || 0) * 0.93);
    const width = `${meterPosition(this.shown)}%`;
    const speaking = rms >= this.threshold;
    const now = performance.now();
    // Screen readers get the value at most twice a second, not at 60 fps.
    const announce = !this.announcedAt || now - this.announcedAt > 500;
    if (announce) this.announcedAt = now;
    for (const meter of [this.testMeter, this.sensitivityMeter]) {
      meter.bar.style.width = width;
      meter.node.classList.toggle("is-speaking", speaking);
      if (announce) meter.node.setAttribute("aria-valuenow", String(Math.round(meterPosition(this.shown))));
    }
  }

  stopTest() {
    this.testToken += 1;
    if (this.test) {
      stopAnalyser(this.test.analyser);
      for (const track of this.test.stream.getTracks()) track.stop();
      this.test = null;
    }
    this.preview.srcObject = null;
    this.preview.hidden = true;
    this.previewNote.hidden = false;
    this.previewNote.textContent = gettext("Camera preview");
    this.shown = 0;
    this.showLevel(0);
    this.showTestState(false);
  }

  stopAll() {
    this.stopTest();
    this.stopSound();
    this.testStatus.textContent = "";
  }

  // --- Test sound --------------------------------------------------------------------------

  // A short two-note chime; through an <audio> element when the browser can choose the
  // output (so it plays on the chosen speakers), else straight to the default output.
  async playTestSound() {
    this.stopSound();
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    const context = new Context();
    const sound = { context, audio: null };
    this.sound = sound;
    const gain = context.createGain();
    const oscillator = context.createOscillator();
    oscillator.type = "sine";
    const start = context.currentTime + 0.05;
    oscillator.frequency.setValueAtTime(660, start);
    oscillator.frequency.setValueAtTime(880, start + 0.35);
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.3, start + 0.03);
    gain.gain.setValueAtTime(0.3, start + 0.6);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.9);
    oscillator.connect(gain);
    if (sinkSupported()) {
      const destination = context.createMediaStreamDestination();
      gain.connect(destination);
      sound.audio = new Audio();
      sound.audio.srcObject = destination.stream;
      await applySinkId(sound.audio, this.settings);
      sound.audio.play().catch(() => {});
    } else {
      gain.connect(context.destination);
    }
    await context.resume().catch(() => {});
    const message = this.speakerName();
    oscillator.onended = () => {
      if (this.sound !== sound) return;
      this.stopSound();
      if (this.testStatus.textContent === message) this.testStatus.textContent = "";
    };
    oscillator.start(start);
    oscillator.stop(start + 0.95);
    this.soundButton.disabled = true;
    this.testStatus.textContent = message;
  }

  speakerName() {
    const select = this.controls.speakerId;
    if (!sinkSupported() || !select.value) return gettext("Playing a test sound on the default output.");
    return interpolate(gettext("Playing a test sound on %s."), [select.selectedOptions[0]?.textContent || ""]);
  }

  stopSound() {
    const sound = this.sound;
    this.sound = null;
    this.soundButton.disabled = false;
    if (!sound) return;
    if (sound.audio) {
      sound.audio.pause();
      sound.audio.srcObject = null;
    }
    sound.context.close().catch(() => {});
  }
}

// Settings that change what the test captures.
const RESTARTS_TEST = new Set(["micId", "cameraId", "autoGainControl", "echoCancellation", "noiseSuppression", "videoQuality"]);

function describeStream(stream) {
  const video = stream.getVideoTracks().length > 0;
  const audio = stream.getAudioTracks().length > 0;
  if (video && audio) return gettext("Your camera and microphone work. Speak to see the level move.");
  if (audio) return gettext("Your microphone works; no camera was found.");
  return gettext("Your camera works; no microphone was found.");
}

// The room's settings feature (features.js): built the first time the dialog opens.
export function setup(room) {
  const root = document.getElementById("settings-panel");
  const panel = new SettingsPanel(root, { onChange: room.applySettings });
  return {
    open: () => {
      panel.open();
      if (!root.open) root.showModal();
    },
  };
}
