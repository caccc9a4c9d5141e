// The web client's alerts for a new request: a sound, and a browser notification when
// the tab is hidden.
//
// Browsers let a page start audio only after the person interacted with it: an
// AudioContext made earlier stays suspended (and Chrome warns "The AudioContext was
// not allowed to start"). So the context is made on a gesture only: the "Sound"
// control, or the first click or key press on the page while sound is on. The choice
// is remembered; until a gesture unlocks it, the control offers to allow sound.
// Notification permission is asked once, when the person turns sound on.

const SOUND_KEY = "parley.client.sound";
const ASKED_KEY = "parley.client.notifications-asked";

let audio = null;
let beeps = 0; // how many were played (the browser tests read it)

function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null; // storage disabled: defaults
  }
}

function store(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    // Private mode: the choice lasts for this page only.
  }
}

export function soundOn() {
  return stored(SOUND_KEY) !== "off";
}

function unlocked() {
  return audio !== null && audio.state === "running";
}

// Only ever called from a gesture's handler.
function unlockAudio() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return Promise.resolve();
  audio = audio || new Context();
  return audio.state === "suspended" ? audio.resume().catch(() => {}) : Promise.resolve();
}

function tone() {
  const start = audio.currentTime + 0.01;
  // Two short notes (G5, C6): noticeable, not alarming.
  [784, 1046.5].forEach((frequency, index) => {
    const at = start + index * 0.2;
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.type = "sine";
    oscillator.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.18);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(at);
    oscillator.stop(at + 0.2);
  });
  beeps += 1;
}

// A new request (or a visitor coming into the room): a sound if allowed, and a
// notification if the person cannot see the page.
export function alert(title, text) {
  if (soundOn() && unlocked()) tone();
  if (document.hidden && "Notification" in window && Notification.permission === "granted") {
    const notification = new Notification(title, { body: text, tag: "parley-request" });
    notification.addEventListener("click", () => {
      window.focus();
      notification.close();
    });
  }
}

function askForNotificationsOnce() {
  if (!("Notification" in window) || Notification.permission !== "default" || stored(ASKED_KEY)) return;
  store(ASKED_KEY, "1");
  Notification.requestPermission().catch(() => {});
}

// The "Sound" control: its state, and the gestures that unlock audio.
export function setUpSoundControl(button) {
  const show = () => {
    const on = soundOn();
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.dataset.state = on ? (unlocked() ? "on" : "locked") : "off";
    button.querySelector(".sound-toggle__text").textContent = on
      ? unlocked()
        ? gettext("Sound on")
        : gettext("Allow sound")
      : gettext("Sound off");
  };
  button.addEventListener("click", async () => {
    const on = !soundOn() || !unlocked();
    store(SOUND_KEY, on ? "on" : "off");
    if (on) {
      askForNotificationsOnce();
      await unlockAudio();
      if (unlocked()) tone(); // what it will sound like
    }
    show();
  });
  // Any first gesture on the page unlocks the sound the person already chose.
  const onGesture = async (event) => {
    if (button.contains(event.target) || !soundOn() || unlocked()) return; // the control's click decides itself
    await unlockAudio();
    show();
  };
  document.addEventListener("pointerdown", onGesture, { passive: true });
  document.addEventListener("keydown", onGesture);
  show();
}

window.parleyAlerts = {
  get beeps() {
    return beeps;
  },
  get audioState() {
    return audio ? audio.state : "none";
  },
};
