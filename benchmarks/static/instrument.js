// Injected by benchmarks/join_time.py (Playwright add_init_script) before any page
// script runs. It records, once each, the moments of a join in epoch milliseconds
// (performance.timeOrigin + performance.now()) in window.__parleyBench.marks, by
// wrapping WebSocket and RTCPeerConnection: no hook in the page is needed, and the
// Parley room page and the baseline page are measured the same way.
(() => {
  // marks: the first time of each milestone; events: every peer-connection event, in
  // order, with the connection's number (for --verbose; bounded).
  const bench = { origin: performance.timeOrigin, marks: {}, events: [] };
  window.__parleyBench = bench;
  const now = () => performance.timeOrigin + performance.now();
  const mark = (name) => {
    if (!(name in bench.marks)) bench.marks[name] = now();
  };
  bench.mark = mark;
  const log = (pc, name) => {
    if (bench.events.length < 300) bench.events.push([Math.round(now() - bench.origin), pc.benchIndex, name]);
  };
  document.addEventListener("DOMContentLoaded", () => mark("dom_content_loaded"));
  window.addEventListener("load", () => mark("load"));

  const NativeWebSocket = window.WebSocket;
  class BenchWebSocket extends NativeWebSocket {
    constructor(...args) {
      super(...args);
      mark("ws_created");
      this.addEventListener("open", () => mark("ws_open"));
      this.addEventListener("message", (event) => {
        mark("ws_first_message");
        if ("snapshot" in bench.marks || typeof event.data !== "string") return;
        try {
          if (JSON.parse(event.data).type === "room.snapshot") mark("snapshot");
        } catch {
          // not JSON: not ours to judge
        }
      });
    }
  }
  window.WebSocket = BenchWebSocket;

  const nativeGetUserMedia = navigator.mediaDevices && navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  if (nativeGetUserMedia) {
    navigator.mediaDevices.getUserMedia = async (constraints) => {
      mark("gum_called");
      const stream = await nativeGetUserMedia(constraints);
      if (stream.getVideoTracks().length) mark("gum_video");
      return stream;
    };
  }

  const remoteVideoTracks = new Set();
  const connections = [];
  const hooked = new WeakSet();
  let scanTimer = 0;
  let polling = false;

  // The first frame of a remote video actually presented in a <video> of the page.
  function scanVideos() {
    if ("first_frame" in bench.marks) {
      clearInterval(scanTimer);
      return;
    }
    for (const video of document.querySelectorAll("video")) {
      const stream = video.srcObject;
      if (hooked.has(video) || !stream || typeof stream.getVideoTracks !== "function") continue;
      if (!stream.getVideoTracks().some((track) => remoteVideoTracks.has(track.id))) continue;
      hooked.add(video);
      video.requestVideoFrameCallback(() => mark("first_frame"));
    }
  }

  // A frame decoded by any connection (does not depend on the page's DOM).
  async function pollDecoded() {
    while (!("first_decoded" in bench.marks)) {
      for (const pc of connections) {
        if (pc.connectionState === "closed") continue;
        const stats = await pc.getStats().catch(() => null);
        stats?.forEach((report) => {
          if (report.type === "inbound-rtp" && report.kind === "video" && report.framesDecoded > 0) mark("first_decoded");
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  const NativePeerConnection = window.RTCPeerConnection;
  class BenchPeerConnection extends NativePeerConnection {
    constructor(...args) {
      super(...args);
      mark("pc_created");
      connections.push(this);
      this.benchIndex = connections.length;
      log(this, "created");
      this.addEventListener("signalingstatechange", () => log(this, `signaling ${this.signalingState}`));
      this.addEventListener("connectionstatechange", () => log(this, `connection ${this.connectionState}`));
      this.addEventListener("iceconnectionstatechange", () => {
        const state = this.iceConnectionState;
        log(this, `ice ${state}`);
        if (state === "checking") mark("ice_checking");
        if (state === "connected" || state === "completed") mark("ice_connected");
      });
      this.addEventListener("connectionstatechange", () => {
        if (this.connectionState === "connected") mark("pc_connected");
      });
      this.addEventListener("track", (event) => {
        log(this, `track ${event.track.kind}`);
        if (event.track.kind !== "video") return;
        mark("remote_video_track");
        remoteVideoTracks.add(event.track.id);
        if (!scanTimer) scanTimer = setInterval(scanVideos, 5);
        if (!polling) {
          polling = true;
          pollDecoded();
        }
      });
    }

    setLocalDescription(...args) {
      const type = args[0]?.type || (this.signalingState === "have-remote-offer" ? "answer" : "offer");
      if (type === "offer") mark("offer");
      if (type === "answer") mark("answer");
      mark(`local_${type}`);
      log(this, `setLocal ${type}`);
      return super.setLocalDescription(...args);
    }

    setRemoteDescription(description) {
      if (description?.type === "offer") mark("offer");
      if (description?.type === "answer") mark("answer");
      mark(`remote_${description?.type}`);
      log(this, `setRemote ${description?.type}`);
      return super.setRemoteDescription(description);
    }
  }
  window.RTCPeerConnection = BenchPeerConnection;
})();
