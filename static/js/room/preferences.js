// Meeting-room settings (F17), what the room needs from the start: the choices
// remembered per browser, the media constraints and the sender limits they imply.
// The Settings dialog that changes them (settings.js) is loaded on first use.
// Plain ES module, no build step.

const STORAGE_KEY = "parley.settings";

export const DEFAULT_SETTINGS = Object.freeze({
  micId: "",
  speakerId: "",
  cameraId: "",
  audioQuality: "auto",
  sensitivity: 50,
  autoGainControl: true,
  echoCancellation: true,
  noiseSuppression: true,
  videoQuality: "medium",
});

// Opus target bitrates (bit/s).
const AUDIO_BITRATES = { low: 16000, medium: 32000, high: 64000 };

const VIDEO_PRESETS = {
  low: { width: 320, height: 180, frameRate: 15, maxBitrate: 150000 },
  medium: { width: 640, height: 360, frameRate: 24, maxBitrate: 500000 },
  high: { width: 960, height: 540, frameRate: 30, maxBitrate: 1000000 },
  hd: { width: 1280, height: 720, frameRate: 30, maxBitrate: 2000000 },
};

const isBoolean = (value) => typeof value === "boolean";
// Browser device ids are opaque strings (64 hex chars in Chromium, 44 in Firefox).
const isDeviceId = (value) => typeof value === "string" && value.length <= 256;

const VALID = {
  micId: isDeviceId,
  speakerId: isDeviceId,
  cameraId: isDeviceId,
  audioQuality: (value) => value === "auto" || Object.hasOwn(AUDIO_BITRATES, value),
  sensitivity: (value) => Number.isFinite(value) && value >= 0 && value <= 100,
  autoGainControl: isBoolean,
  echoCancellation: isBoolean,
  noiseSuppression: isBoolean,
  videoQuality: (value) => typeof value === "string" && Object.hasOwn(VIDEO_PRESETS, value),
};

// Every known key with a valid value; anything else falls back to the default.
function normalize(input) {
  const settings = { ...DEFAULT_SETTINGS };
  if (!input || typeof input !== "object") return settings;
  for (const key of Object.keys(VALID)) {
    if (VALID[key](input[key])) settings[key] = input[key];
  }
  settings.sensitivity = Math.round(settings.sensitivity);
  return settings;
}

export function loadSettings() {
  try {
    const raw = window.localStorage.getItem(STORAGE_KEY);
    const stored = raw ? JSON.parse(raw) : null;
    return normalize(Array.isArray(stored) ? null : stored);
  } catch {
    // Storage disabled or corrupt JSON: the defaults.
    return normalize(null);
  }
}

export function saveSettings(settings) {
  const clean = normalize(settings);
  try {
    window.localStorage.setItem(STORAGE_KEY, JSON.stringify(clean));
  } catch {
    // Storage disabled (private mode, quota): the choice lasts for this page only.
  }
  return clean;
}

export function audioConstraints(settings) {
  const s = normalize(settings);
  const constraints = {
    echoCancellation: s.echoCancellation,
    noiseSuppression: s.noiseSuppression,
    autoGainControl: s.autoGainControl,
  };
  if (s.micId) constraints.deviceId = { exact: s.micId };
  return constraints;
}

export function videoConstraints(settings) {
  const s = normalize(settings);
  const preset = VIDEO_PRESETS[s.videoQuality];
  const constraints = {
    width: { ideal: preset.width },
    height: { ideal: preset.height },
    frameRate: { ideal: preset.frameRate },
  };
  if (s.cameraId) constraints.deviceId = { exact: s.cameraId };
  return constraints;
}

// The ICE candidate pair in use: Chromium and Firefox name it on the transport;
// otherwise the nominated pair that succeeded.
export function selectedCandidatePair(report) {
  for (const stats of report.values()) {
    if (stats.type === "transport" && stats.selectedCandidatePairId) {
      const pair = report.get(stats.selectedCandidatePairId);
      if (pair) return pair;
    }
  }
  let fallback = null;
  for (const stats of report.values()) {
    if (stats.type === "candidate-pair" && stats.nominated && stats.state === "succeeded") fallback = stats;
  }
  return fallback;
}

// "auto": the bandwidth estimate of the selected pair decides; before it is known
// (not connected yet) the medium rate, which is what browsers use for voice anyway.
async function autoAudioBitrate(pc) {
  let available = null;
  try {
    available = selectedCandidatePair(await pc.getStats())?.availableOutgoingBitrate ?? null;
  } catch {
    available = null;
  }
  if (!Number.isFinite(available) || available <= 0) return AUDIO_BITRATES.medium;
  if (available < 100000) return AUDIO_BITRATES.low;
  if (available < 500000) return AUDIO_BITRATES.medium;
  return AUDIO_BITRATES.high;
}

// Screen captures keep their own (higher) limits: the video quality is the camera's.
// They are marked when captured: Firefox tells neither `displaySurface` in their
// settings nor a `contentHint`.
const screenTracks = new WeakSet();

export function markScreenTrack(track) {
  screenTracks.add(track);
}

function isScreenTrack(track) {
  return screenTracks.has(track);
}

async function limitSender(sender, limits) {
  const kind = sender.track.kind;
  try {
    const parameters = sender.getParameters();
    Object.assign(parameters.encodings[0], limits);
    await sender.setParameters(parameters);
    return { kind, ok: true, ...limits };
  } catch (error) {
    return { kind, ok: false, error: error.name, ...limits };
  }
}

// Resolution and frame rate live on the track; reapply only when the preset changed,
// because one camera track is shared by every connection of the mesh.
async function fitCameraTrack(track, preset) {
  if (typeof track.applyConstraints !== "function") return;
  const current = track.getConstraints();
  const same =
    current.width?.ideal === preset.width &&
    current.height?.ideal === preset.height &&
    current.frameRate?.ideal === preset.frameRate;
  if (same) return;
  try {
    await track.applyConstraints({
      ...current,
      width: { ideal: preset.width },
      height: { ideal: preset.height },
      frameRate: { ideal: preset.frameRate },
    });
  } catch {
    // Ideal values never fail in practice; the bitrate limit below still applies.
  }
}

// Sets encodings[0].maxBitrate (and maxFramerate for video) on every camera and
// microphone sender of `pc`, and fits the camera track to the video preset.
// Returns [{kind, ok, maxBitrate, maxFramerate?, error?}] — one entry per sender changed.
// Call it after each (re)negotiation and, for audio "auto", again from time to time.
// `fitTrack: false` leaves the camera track's size alone (on the media server the
// camera keeps the taller picture its three simulcast layers need).
export async function applySenderSettings(pc, settings, { fitTrack = true } = {}) {
  const s = normalize(settings);
  const preset = VIDEO_PRESETS[s.videoQuality];
  const audioBitrate = s.audioQuality === "auto" ? await autoAudioBitrate(pc) : AUDIO_BITRATES[s.audioQuality];
  const results = [];
  for (const sender of pc.getSenders()) {
    const track = sender.track;
    if (!track || isScreenTrack(track)) continue;
    if (track.kind === "audio") {
      results.push(await limitSender(sender, { maxBitrate: audioBitrate }));
    } else if (track.kind === "video") {
      if (fitTrack) await fitCameraTrack(track, preset);
      results.push(await limitSender(sender, { maxBitrate: preset.maxBitrate, maxFramerate: preset.frameRate }));
    }
  }
  return results;
}

// Sensitivity → RMS threshold (RMS = sqrt(mean(x²)) of the float time-domain samples
// of an AnalyserNode, range 0..1). Loudness is heard logarithmically, so the threshold
// moves on a log scale: 0 → 0.15 (about −16.5 dBFS: only loud, close speech counts),
// 50 → 0.0245 (about −32 dBFS: normal speech), 100 → 0.004 (about −48 dBFS: a whisper,
// or background noise). Each 10 points lower the threshold by about 3.1 dB.
const THRESHOLD_LOUD = 0.15;
const THRESHOLD_QUIET = 0.004;

export function speakingThreshold(settings) {
  const fraction = normalize(settings).sensitivity / 100;
  return THRESHOLD_LOUD * (THRESHOLD_QUIET / THRESHOLD_LOUD) ** fraction;
}

// Routes a media element to the chosen speakers. Returns true when the element now
// plays on that output (the system default when none is chosen), false when the
// browser cannot choose outputs or the device is gone (then the default is used).
export async function applySinkId(mediaElement, settings) {
  if (!mediaElement || typeof mediaElement.setSinkId !== "function") return false;
  const wanted = normalize(settings).speakerId;
  if (mediaElement.sinkId === wanted) return true;
  try {
    await mediaElement.setSinkId(wanted);
    return true;
  } catch {
    if (wanted) await mediaElement.setSinkId("").catch(() => {});
    return false;
  }
}
