// What the room page starts first: the room's socket and the camera and microphone,
// then the rest of the core. The page runs this module on its own from its head, right
// after the configuration it reads (async, as soon as it and the three modules it
// imports are there), before the rest of the page has arrived, been parsed and styled;
// nothing else of the core is fetched or compiled before the socket and the devices
// are on their way. main.js, loaded from here, imports it too (one module, one socket)
// and attaches its handlers, which get what the socket said until then, in order.
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

// main.js and what it imports beyond this module's own (tests/meetings/test_room_page.py
// keeps the list whole): fetched all at once rather than one import level after the
// other.
export const CORE_MODULES = ["./main.js", "./features.js", "./peers.js", "./tiles.js", "./audio.js", "./remote-button.js", "./dom.js", "../ui.js"];

for (const module of CORE_MODULES) {
  const link = document.createElement("link");
  link.rel = "modulepreload";
  link.href = new URL(module, import.meta.url).href;
  document.head.append(link);
}
// main.js renders into the page and calls gettext(): it runs once the page is parsed
// and the translation catalog (deferred) has run.
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", loadMain, { once: true });
else loadMain();

function loadMain() {
  import("./main.js").catch((error) => console.error("The room could not be loaded.", error));
}

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
