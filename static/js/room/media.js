// The local media: microphone and camera (constraints from the settings), the
// join page's "without camera/mic" choice, moderation limits, and screen sharing.
// Two MediaStreams live as long as the page: one for camera+microphone, one for the
// screen, so that their ids (sent in SDP as msid, and as share.start's stream_id)
// never change while their tracks do.
import { audioConstraints, markScreenTrack, videoConstraints } from "./preferences.js";

const RETRYABLE = new Set(["OverconstrainedError", "NotFoundError", "NotReadableError", "AbortError"]);

export function devicesChoice(key) {
  try {
    return sessionStorage.getItem(key);
  } catch {
    return null;
  }
}

function withoutDevice(constraints) {
  if (!constraints || typeof constraints !== "object") return true;
  const { deviceId, ...rest } = constraints;
  return Object.keys(rest).length ? rest : true;
}

// getUserMedia for one kind; a saved device that is gone falls back to the default one.
async function acquire(kind, constraints) {
  const request = (value) => navigator.mediaDevices.getUserMedia({ [kind]: value });
  try {
    return (await request(constraints)).getTracks()[0];
  } catch (error) {
    if (error.name !== "OverconstrainedError" && error.name !== "NotFoundError") throw error;
    return (await request(withoutDevice(constraints))).getTracks()[0];
  }
}

export function mediaProblem(error) {
  const problems = {
    NotAllowedError: () => gettext("You did not allow the camera or microphone. Allow them in your browser's address bar, then try again."),
    NotFoundError: () => gettext("No camera or microphone was found."),
    NotReadableError: () => gettext("Your camera or microphone is busy in another application."),
    SecurityError: () => gettext("This page may not use the camera and microphone."),
  };
  return (problems[error && error.name] || (() => gettext("The camera or microphone could not be started.")))();
}

export class LocalMedia {
  // onChange() is called whenever tracks or states change (the page re-syncs senders and tiles).
  constructor({ settings, onChange }) {
    this.settings = settings;
    this.onChange = onChange;
    this.cameraStream = new MediaStream();
    this.screenStream = new MediaStream();
    this.audioTrack = null;
    this.videoTrack = null;
    this.screenTrack = null;
    this.screenAnnounced = false;
    this.micOn = false;
    this.cameraOn = false;
    this.micAllowed = true;
    this.cameraAllowed = true;
    this.onScreenEnded = () => {};
  }

  get hasMediaDevices() {
    return Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  }

  // At page load: both devices unless the join page said "without camera/mic".
  // Resolves with null, or with the error that stopped both.
  async start(choice) {
    if (choice === "off" || !this.hasMediaDevices) return null;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: audioConstraints(this.settings),
        video: videoConstraints(this.settings),
      });
      this.setTrack("audio", stream.getAudioTracks()[0] || null);
      this.setTrack("video", stream.getVideoTracks()[0] || null);
    } catch (error) {
      if (!RETRYABLE.has(error.name)) return error;
      // One of the two is missing, busy or over-constrained: try them one by one.
      let lastError = error;
      for (const kind of ["audio", "video"]) {
        try {
          this.setTrack(kind, await acquire(kind, this.constraints(kind)));
        } catch (kindError) {
          lastError = kindError;
        }
      }
      if (!this.audioTrack && !this.videoTrack) return lastError;
    }
    this.micOn = Boolean(this.audioTrack) && this.micAllowed;
    this.cameraOn = Boolean(this.videoTrack) && this.cameraAllowed;
    if (!this.cameraOn) this.dropVideo();
    this.applyEnabled();
    this.onChange();
    return null;
  }

  constraints(kind) {
    if (kind === "audio") return audioConstraints(this.settings);
    const video = videoConstraints(this.settings);
    // On the media server the camera is sent in three layers, which browsers only do
    // from 540 lines up: a taller picture is asked for (setMinimumHeight).
    if (this.minimumHeight && (video.height?.ideal || 0) < this.minimumHeight) {
      video.height = { ideal: this.minimumHeight };
      video.width = { ideal: Math.round((this.minimumHeight * 16) / 9) };
    }
    return video;
  }

  // A floor for the camera's height (0: none): the camera reopens when it changes.
  async setMinimumHeight(height) {
    if (height === (this.minimumHeight || 0)) return null;
    const before = JSON.stringify(this.constraints("video"));
    this.minimumHeight = height;
    if (!this.videoTrack || JSON.stringify(this.constraints("video")) === before) return null;
    // The camera must be closed first: while a track holds it, a new one gets the
    // format it is already capturing in.
    this.videoTrack.stop();
    try {
      this.setTrack("video", await acquire("video", this.constraints("video")));
    } catch (error) {
      this.setTrack("video", null);
      return error;
    }
    this.applyEnabled();
    this.onChange();
    return null;
  }

  setTrack(kind, track) {
    const old = kind === "audio" ? this.audioTrack : this.videoTrack;
    if (old === track) return;
    if (old) {
      this.cameraStream.removeTrack(old);
      old.stop();
    }
    if (track) this.cameraStream.addTrack(track);
    if (kind === "audio") this.audioTrack = track;
    else this.videoTrack = track;
  }

  dropVideo() {
    this.setTrack("video", null);
  }

  applyEnabled() {
    if (this.audioTrack) this.audioTrack.enabled = this.micOn && this.micAllowed;
  }

  // What the page says it sends (media.state).
  get state() {
    return { mic: Boolean(this.audioTrack) && this.micOn && this.micAllowed, camera: Boolean(this.videoTrack) && this.cameraOn && this.cameraAllowed };
  }

  // The tracks the senders carry. A kind an organizer turned off is not sent at all.
  tracks() {
    return {
      audio: this.micAllowed ? this.audioTrack : null,
      video: this.cameraAllowed && this.cameraOn ? this.videoTrack : null,
      // The screen is sent once the server accepted the share (share.start's ack).
      screen: this.screenAnnounced ? this.screenTrack : null,
      cameraStream: this.cameraStream,
      screenStream: this.screenStream,
    };
  }

  async setMic(on) {
    if (on && !this.micAllowed) return;
    if (on && !this.audioTrack) this.setTrack("audio", await acquire("audio", this.constraints("audio")));
    this.micOn = on;
    this.applyEnabled();
    this.onChange();
  }

  // The camera is released when off, so that its light goes out.
  async setCamera(on) {
    if (on && !this.cameraAllowed) return;
    if (on && !this.videoTrack) this.setTrack("video", await acquire("video", this.constraints("video")));
    this.cameraOn = on;
    if (!on) this.dropVideo();
    this.onChange();
  }

  setAllowed(kind, allowed) {
    if (kind === "mic") {
      this.micAllowed = allowed;
      if (!allowed) this.micOn = false;
    } else {
      this.cameraAllowed = allowed;
      if (!allowed) {
        this.cameraOn = false;
        this.dropVideo();
      }
    }
    this.applyEnabled();
  }

  // New settings: reopen the devices whose constraints changed (device, processing,
  // resolution); the page then swaps the tracks in the senders with replaceTrack.
  async applySettings(settings) {
    const before = { audio: JSON.stringify(this.constraints("audio")), video: JSON.stringify(this.constraints("video")) };
    this.settings = settings;
    const errors = [];
    if (this.audioTrack && JSON.stringify(this.constraints("audio")) !== before.audio) {
      try {
        this.setTrack("audio", await acquire("audio", this.constraints("audio")));
      } catch (error) {
        errors.push(error);
      }
    }
    if (this.videoTrack && JSON.stringify(this.constraints("video")) !== before.video) {
      try {
        this.setTrack("video", await acquire("video", this.constraints("video")));
      } catch (error) {
        errors.push(error);
      }
    }
    this.applyEnabled();
    this.onChange();
    return errors;
  }

  // `video`: more constraints, e.g. {displaySurface: "monitor"} to offer whole screens first.
  async startScreen(video = {}) {
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 }, ...video }, audio: false });
    const track = stream.getVideoTracks()[0];
    markScreenTrack(track);
    if ("contentHint" in track) track.contentHint = "detail";
    this.setScreenTrack(track);
    // The browser's own "Stop sharing" ends the track.
    track.addEventListener("ended", () => {
      if (this.screenTrack === track) this.onScreenEnded();
    });
    return this.screenStream.id;
  }

  setScreenTrack(track) {
    for (const old of this.screenStream.getTracks()) {
      this.screenStream.removeTrack(old);
      old.stop();
    }
    if (track) this.screenStream.addTrack(track);
    this.screenTrack = track;
    this.screenAnnounced = false;
  }

  stopScreen() {
    this.setScreenTrack(null);
    this.onChange();
  }

  stopAll() {
    this.setScreenTrack(null);
    this.setTrack("audio", null);
    this.setTrack("video", null);
    this.micOn = false;
    this.cameraOn = false;
  }
}
