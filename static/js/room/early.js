// What the room page starts first: the room's socket and the camera and microphone.
// The page runs this module on its own from its head, right after the configuration it
// reads (async, as soon as it and the three modules it imports are there), before the
// rest of the page and of the core has arrived, been parsed and styled: the server's
// room.snapshot and the devices are on their way meanwhile.
// main.js imports it too (one module, one socket) and attaches its handlers, which get
// what the socket said until then, in order.
//
// The page refers to it by its plain static URL, not a hashed one: main.js's import
// of "./early.js" must name the same module.
import { LocalMedia, devicesChoice } from "./media.js";
import { loadSettings } from "./preferences.js";
import { Signaling } from "./signaling.js";

export const config = JSON.parse(document.getElementById("room-config").textContent);
export const settings = loadSettings();

let handlers = null;
const waiting = []; // [hook, ...args] of the socket and the media before main.js attaches

function relay(hook) {
  return (...args) => {
    if (handlers) handlers[hook](...args);
    else waiting.push([hook, ...args]);
  };
}

export const signaling = new Signaling(config.wsPath, { onEvent: relay("onEvent"), onState: relay("onState") });
export const media = new LocalMedia({ settings, onChange: relay("onMediaChange") });

// The join page's "without camera/mic" choice.
export const choice = devicesChoice(config.devicesKey);

signaling.start();
// Resolves with null, or with the error that stopped both devices.
export const mediaStarted = media.start(choice);

// main.js's onEvent(type, body), onState(state, code) and onMediaChange(): what came
// before goes to them first, in order.
export function attach(next) {
  // (What the replay itself causes, e.g. a media change, queues behind it.)
  while (waiting.length) {
    const [hook, ...args] = waiting.shift();
    next[hook](...args);
  }
  handlers = next;
}
