// The join page: camera and microphone preview before joining.
// The person's choice (devices on or off) is kept in sessionStorage for the room page.
import "./ui.js";

const card = document.getElementById("device-preview");
const video = document.getElementById("preview");
const placeholder = document.getElementById("preview-placeholder");
const placeholderText = document.getElementById("preview-placeholder-text");
const level = document.getElementById("mic-level");
const status = document.getElementById("device-status");
const toggle = document.getElementById("devices-toggle");
const form = document.getElementById("join-form");

const storageKey = `parley.devices.${card.dataset.room}`;
let stream = null;
let meter = null;

function remember(choice) {
  try {
    sessionStorage.setItem(storageKey, choice);
  } catch {
    // Storage disabled (private mode): the room asks again.
  }
}

function recalled() {
  try {
    return sessionStorage.getItem(storageKey);
  } catch {
    return null;
  }
}

function say(text, problem = false) {
  status.textContent = text;
  status.classList.toggle("device-status--problem", problem);
}

function showToggle(devicesOn) {
  toggle.textContent = devicesOn ? toggle.dataset.labelOff : toggle.dataset.labelOn;
  toggle.setAttribute("aria-pressed", devicesOn ? "false" : "true");
  card.dataset.devices = devicesOn ? "on" : "off";
}

function showVideo(on, text) {
  video.hidden = !on;
  placeholder.hidden = on;
  if (text) placeholderText.textContent = text;
}

// --- Microphone level ----------------------------------------------------------------

function startMeter(mediaStream) {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context || mediaStream.getAudioTracks().length === 0) return;
  const context = new Context();
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  context.createMediaStreamSource(mediaStream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const state = { context, frame: 0 };
  const draw = () => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const sample of samples) sum += sample * sample;
    const rms = Math.sqrt(sum / samples.length);
    level.style.width = `${Math.min(100, Math.round(rms * 400))}%`;
    state.frame = requestAnimationFrame(draw);
  };
  draw();
  meter = state;
}

function stopMeter() {
  if (!meter) return;
  cancelAnimationFrame(meter.frame);
  meter.context.close().catch(() => {});
  meter = null;
  level.style.width = "0%";
}

// --- Devices -------------------------------------------------------------------------

async function getMedia() {
  try {
    return await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  } catch (error) {
    if (error.name !== "NotFoundError" && error.name !== "OverconstrainedError" && error.name !== "NotReadableError") throw error;
    // One of the two is missing or busy: try with the other alone.
    for (const constraints of [{ audio: true }, { video: true }]) {
      try {
        return await navigator.mediaDevices.getUserMedia(constraints);
      } catch {
        // try the next
      }
    }
    throw error;
  }
}

function stopDevices() {
  stopMeter();
  if (stream) for (const track of stream.getTracks()) track.stop();
  stream = null;
  video.srcObject = null;
}

const PROBLEMS = {
  NotAllowedError: () =>
    gettext("You did not allow the camera and microphone. You can join without them, or allow them in your browser's address bar and press “Use camera and microphone”."),
  SecurityError: () => gettext("This page may not use the camera and microphone. You can join without them."),
  NotFoundError: () => gettext("No camera or microphone was found. You can join without them."),
  NotReadableError: () => gettext("Your camera or microphone is busy in another application. Close it and try again, or join without them."),
};

function describe(mediaStream) {
  const hasVideo = mediaStream.getVideoTracks().length > 0;
  const hasAudio = mediaStream.getAudioTracks().length > 0;
  if (hasVideo && hasAudio) return gettext("Your camera and microphone work. Speak to see the level move.");
  if (hasAudio) return gettext("Your microphone works; no camera was found.");
  return gettext("Your camera works; no microphone was found.");
}

async function startDevices() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say(gettext("This browser cannot use a camera here (it needs a secure HTTPS connection). You can still join without camera and microphone."), true);
    showToggle(false);
    remember("off");
    toggle.disabled = true;
    return;
  }
  say(gettext("Your browser is asking whether Parley may use your camera and microphone. Allow it to check them before you join."));
  toggle.disabled = true;
  try {
    stream = await getMedia();
  } catch (error) {
    toggle.disabled = false;
    say((PROBLEMS[error.name] || (() => gettext("The camera and microphone could not be started. You can join without them.")))(), true);
    showVideo(false, gettext("Camera off"));
    showToggle(false);
    remember("off");
    return;
  }
  toggle.disabled = false;
  video.srcObject = stream;
  showVideo(stream.getVideoTracks().length > 0, gettext("No camera"));
  startMeter(stream);
  say(describe(stream));
  showToggle(true);
  remember("on");
}

toggle.addEventListener("click", () => {
  if (stream) {
    stopDevices();
    showVideo(false, gettext("Camera off"));
    showToggle(false);
    remember("off");
    say(gettext("You will join without camera and microphone. You can turn them on later in the meeting."));
  } else {
    startDevices();
  }
});

form.addEventListener("submit", () => {
  // Still starting (permission prompt open): not a choice of "off"; the room asks again.
  remember(stream || card.dataset.devices !== "off" ? "on" : "off");
  // Free the devices: the meeting room opens them again.
  stopDevices();
});

window.addEventListener("pagehide", stopDevices);

showVideo(false);
if (recalled() === "off") {
  showToggle(false);
  say(gettext("You chose to join without camera and microphone."));
} else {
  startDevices();
}
