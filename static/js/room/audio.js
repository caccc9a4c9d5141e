// Web Audio for the room: who is speaking (an analyser per audio stream) and the
// organizer's lobby chime. One AudioContext for the page.

const POLL_MS = 120;
const HOLD_MS = 450; // keep "speaking" a little after the level drops: no flicker between words

let context = null;

function audioContext() {
  if (!context) {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    context = new Context();
  }
  return context;
}

// Browsers start an AudioContext suspended until the person interacts with the page.
export function resumeAudio() {
  const ctx = audioContext();
  if (ctx && ctx.state === "suspended") ctx.resume().catch(() => {});
}

export class SpeakingDetector {
  constructor(onChange) {
    this.onChange = onChange;
    this.threshold = 0.02;
    this.meters = new Map();
    this.timer = 0;
  }

  setThreshold(value) {
    if (typeof value === "number" && value >= 0) this.threshold = value;
  }

  // Watches the audio of `stream` for participant `id` (replaces an earlier one).
  watch(id, stream) {
    const track = stream && stream.getAudioTracks()[0];
    const current = this.meters.get(id);
    if (current && current.track === track) return;
    this.unwatch(id);
    const ctx = audioContext();
    if (!track || !ctx) return;
    let source;
    try {
      source = ctx.createMediaStreamSource(new MediaStream([track]));
    } catch {
      return;
    }
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 512;
    source.connect(analyser);
    this.meters.set(id, { track, source, analyser, samples: new Float32Array(analyser.fftSize), speaking: false, lastLoud: 0 });
    if (!this.timer) this.timer = setInterval(() => this.poll(), POLL_MS);
  }

  unwatch(id) {
    const meter = this.meters.get(id);
    if (!meter) return;
    meter.source.disconnect();
    this.meters.delete(id);
    if (meter.speaking) this.onChange(id, false);
    if (!this.meters.size) {
      clearInterval(this.timer);
      this.timer = 0;
    }
  }

  poll() {
    const now = performance.now();
    for (const [id, meter] of this.meters) {
      let speaking = false;
      if (meter.track.enabled && meter.track.readyState === "live") {
        meter.analyser.getFloatTimeDomainData(meter.samples);
        let sum = 0;
        for (const sample of meter.samples) sum += sample * sample;
        if (Math.sqrt(sum / meter.samples.length) > this.threshold) meter.lastLoud = now;
        speaking = now - meter.lastLoud < HOLD_MS;
      }
      if (speaking !== meter.speaking) {
        meter.speaking = speaking;
        this.onChange(id, speaking);
      }
    }
  }

  stop() {
    for (const id of [...this.meters.keys()]) this.unwatch(id);
  }
}

// Two short rising tones: someone is waiting in the lobby.
export function chime() {
  const ctx = audioContext();
  if (!ctx) return;
  resumeAudio();
  const start = ctx.currentTime + 0.02;
  [660, 880].forEach((frequency, index) => {
    const oscillator = ctx.createOscillator();
    const gain = ctx.createGain();
    const at = start + index * 0.18;
    oscillator.type = "sine";
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.16);
    oscillator.connect(gain).connect(ctx.destination);
    oscillator.start(at);
    oscillator.stop(at + 0.18);
  });
}
