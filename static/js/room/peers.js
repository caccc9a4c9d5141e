// The mesh: one RTCPeerConnection per remote participant, negotiated with the
// "perfect negotiation" pattern (https://w3c.github.io/webrtc-pc/#perfect-negotiation-example):
// both sides create the connection when they learn of each other, either may offer,
// and a collision is settled by politeness (the side with the higher id is polite).
//
// The first offer comes from the impolite side: the polite side adds its tracks once
// that offer arrived (or after POLITE_WAIT_MS without one). A glare on the very first
// offer makes the polite side roll back while it gathers candidates, and Chromium then
// never gathers again on that connection; later collisions are harmless.
//
// With `offerer: true` the mesh connects to the media worker's recorder instead
// (docs/recording.md): we always offer and only send, the recorder only answers, so
// there is no politeness; a connection that fails is replaced by a fresh one (aiortc
// takes a new offer on a new connection, not an ICE restart).

const KINDS = ["audio", "video"];
const POLITE_WAIT_MS = 2500;
const ICE_START_MS = 5000;
const POLITE_RESTART_MS = 4000;
const TRACE_LENGTH = 300;

export class PeerMesh {
  // signal(body) sends a `signal` message and returns its promise; localTracks()
  // returns the media's tracks(); onRemote(id) / onState(id) say that a peer's streams
  // or connection state changed; onConnected(id) that its media flows.
  constructor({ selfId, signal, localTracks, onRemote, onState, onConnected, offerer = false }) {
    this.selfId = selfId;
    this.offerer = offerer;
    this.signal = signal;
    this.localTracks = localTracks;
    this.onRemote = onRemote;
    this.onState = onState;
    this.onConnected = onConnected;
    this.iceServers = [];
    this.peers = new Map();
    this.trace = []; // the last negotiation steps, for troubleshooting (window.parleyRoom.trace)
  }

  note(id, what) {
    this.trace.push(`${Math.round(performance.now())} ${id} ${what}`);
    if (this.trace.length > TRACE_LENGTH) this.trace.shift();
  }

  // From each room.snapshot: TURN credentials expire, so connections get the fresh
  // ones for their next ICE restart.
  setIceServers(servers) {
    this.iceServers = Array.isArray(servers) ? servers : [];
    for (const { pc } of this.peers.values()) {
      try {
        pc.setConfiguration({ ...pc.getConfiguration(), iceServers: this.iceServers });
      } catch (error) {
        this.note("-", `setConfiguration ${error.message}`);
      }
    }
  }

  has(id) {
    return this.peers.has(id);
  }

  get(id) {
    return this.peers.get(id);
  }

  ids() {
    return [...this.peers.keys()];
  }

  ensure(id) {
    return this.peers.get(id) || this.create(id);
  }

  create(id) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    const peer = {
      id,
      pc,
      polite: !this.offerer && this.selfId > id,
      started: false,
      startTimer: 0,
      makingOffer: false,
      ignoreOffer: false,
      settingRemoteAnswer: false,
      watchdog: 0,
      restartTimer: 0,
      senders: { audio: null, video: null, screen: null },
      streams: new Map(),
    };
    this.peers.set(id, peer);
    this.note(id, `create ${peer.polite ? "polite" : "impolite"}`);
    this.wire(peer);
    if (peer.polite) peer.startTimer = setTimeout(() => this.start(peer), POLITE_WAIT_MS);
    else this.start(peer);
    return peer;
  }

  // Adds our tracks. A kind we do not send is still received: a recvonly transceiver
  // (reused by a later addTrack) unless the other side's offer already brought one.
  start(peer) {
    if (peer.started || this.peers.get(peer.id) !== peer) return;
    peer.started = true;
    clearTimeout(peer.startTimer);
    const { pc } = peer;
    const local = this.localTracks();
    for (const kind of KINDS) {
      if (local[kind]) this.addSender(peer, kind, local[kind], local.cameraStream);
      else if (!this.offerer && !pc.getTransceivers().some((t) => t.receiver.track.kind === kind)) pc.addTransceiver(kind, { direction: "recvonly" });
    }
    if (local.screen) this.addSender(peer, "screen", local.screen, local.screenStream);
  }

  addSender(peer, slot, track, stream) {
    const sender = peer.pc.addTrack(track, stream);
    peer.senders[slot] = sender;
    if (this.offerer) {
      // The recorder sends nothing back.
      const transceiver = peer.pc.getTransceivers().find((t) => t.sender === sender);
      if (transceiver) transceiver.direction = "sendonly";
    }
  }

  wire(peer) {
    const { pc, id } = peer;
    const current = () => this.peers.get(id) === peer;
    pc.onnegotiationneeded = async () => {
      try {
        peer.makingOffer = true;
        await pc.setLocalDescription();
        await this.sendDescription(peer);
      } catch (error) {
        this.note(id, `offer failed: ${error.code || error.name}`);
      } finally {
        peer.makingOffer = false;
      }
    };
    pc.onicecandidate = ({ candidate }) => {
      // An empty candidate string is Firefox's end-of-candidates; we do not relay it.
      if (!candidate || !candidate.candidate || !current()) return;
      const body = { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex };
      this.signal({ to: id, candidate: body }).catch((error) => this.note(id, `candidate not relayed: ${error.code}`));
    };
    pc.oniceconnectionstatechange = () => {
      this.note(id, `ice ${pc.iceConnectionState}`);
      clearTimeout(peer.restartTimer);
      // One side restarts (two restarts at once would collide); the polite side
      // only if the other did not.
      if (pc.iceConnectionState === "failed") peer.restartTimer = setTimeout(() => this.restart(peer, "failed"), peer.polite ? POLITE_RESTART_MS : 0);
      this.onState(id);
    };
    pc.onsignalingstatechange = () => {
      this.note(id, `signaling ${pc.signalingState}`);
      clearTimeout(peer.watchdog);
      if (pc.signalingState === "stable") peer.watchdog = setTimeout(() => this.checkStarted(peer), ICE_START_MS * (peer.polite ? 2 : 1));
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "connected") this.onConnected(id);
      this.onState(id);
    };
    pc.ontrack = ({ track, streams }) => {
      const stream = streams[0] || new MediaStream([track]);
      peer.streams.delete(stream.id);
      peer.streams.set(stream.id, stream); // most recent last
      const changed = () => current() && this.onRemote(id);
      stream.onaddtrack = changed;
      stream.onremovetrack = changed;
      track.onunmute = changed;
      track.onmute = changed;
      changed();
    };
  }

  restart(peer, why) {
    const { pc } = peer;
    if (this.peers.get(peer.id) !== peer || pc.signalingState === "closed") return;
    if (why === "failed" && pc.iceConnectionState !== "failed") return;
    if (this.offerer) {
      this.note(peer.id, `new connection (${why})`);
      this.close(peer.id);
      this.ensure(peer.id);
      return;
    }
    this.note(peer.id, `ICE restart (${why})`);
    pc.restartIce();
  }

  // Both descriptions are set but ICE never started (no candidate arrived or none was
  // gathered): an ICE restart gathers and exchanges candidates afresh.
  checkStarted(peer) {
    const { pc } = peer;
    if (pc.signalingState === "stable" && pc.remoteDescription && pc.iceConnectionState === "new") this.restart(peer, "not started");
  }

  async sendDescription(peer) {
    const { type, sdp } = peer.pc.localDescription;
    this.note(peer.id, `send ${type}`);
    try {
      await this.signal({ to: peer.id, description: { type, sdp } });
    } catch (error) {
      // The other side is not connected now (not_found) or our socket is down: start
      // over with a fresh connection when they (or we) are back.
      this.note(peer.id, `${type} not relayed: ${error.code}`);
      if (this.peers.get(peer.id) === peer) this.close(peer.id);
      throw error;
    }
  }

  async handleSignal({ from, description, candidate }) {
    if (typeof from !== "number" || from === this.selfId) return;
    // A recorder never offers, and what it says about a connection we closed is stale.
    if (this.offerer && (!this.peers.has(from) || description?.type === "offer")) return;
    let peer = this.ensure(from);
    if (description) {
      this.note(from, `got ${description.type} in ${peer.pc.signalingState}${peer.makingOffer ? " (making offer)" : ""}`);
      try {
        await this.acceptDescription(peer, description);
      } catch (error) {
        this.note(from, `${description.type} refused: ${error.message}`);
        if (description.type !== "offer" || peer.ignoreOffer || this.peers.get(from) !== peer) return;
        // An offer our connection cannot take (the other page was reloaded, so its
        // DTLS identity changed): replace the connection and take the offer fresh.
        this.close(from);
        peer = this.ensure(from);
        try {
          await this.acceptDescription(peer, description);
        } catch (again) {
          this.note(from, `offer refused again: ${again.message}`);
        }
      }
    } else if (candidate !== undefined) {
      try {
        await peer.pc.addIceCandidate(candidate || undefined);
      } catch (error) {
        // Candidates of an offer we ignored fail here, as they should.
        if (!peer.ignoreOffer) this.note(from, `candidate refused: ${error.message}`);
      }
    }
  }

  async acceptDescription(peer, description) {
    const { pc } = peer;
    const readyForOffer = !peer.makingOffer && (pc.signalingState === "stable" || peer.settingRemoteAnswer);
    const collision = description.type === "offer" && !readyForOffer;
    peer.ignoreOffer = !peer.polite && collision;
    if (peer.ignoreOffer) {
      this.note(peer.id, "offer ignored (collision)");
      return;
    }
    peer.settingRemoteAnswer = description.type === "answer";
    try {
      await pc.setRemoteDescription(description);
    } finally {
      peer.settingRemoteAnswer = false;
    }
    if (description.type === "offer") {
      // The polite side's tracks join in its answer (addTrack reuses the offered transceivers).
      this.start(peer);
      await pc.setLocalDescription();
      await this.sendDescription(peer);
    }
  }

  // The local tracks changed (device switched, camera on/off, share started/stopped):
  // replace tracks in place where a sender exists, add them where none does.
  syncTracks() {
    const local = this.localTracks();
    for (const peer of this.peers.values()) {
      if (!peer.started || peer.pc.signalingState === "closed") continue;
      for (const kind of KINDS) this.syncSender(peer, kind, local[kind], local.cameraStream);
      this.syncSender(peer, "screen", local.screen, local.screenStream);
    }
  }

  syncSender(peer, slot, track, stream) {
    const sender = peer.senders[slot];
    if (sender) {
      if (sender.track !== track) sender.replaceTrack(track).catch((error) => this.note(peer.id, `replaceTrack: ${error.message}`));
    } else if (track) {
      this.addSender(peer, slot, track, stream);
    }
  }

  close(id) {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    this.note(id, "close");
    clearTimeout(peer.startTimer);
    clearTimeout(peer.watchdog);
    clearTimeout(peer.restartTimer);
    const { pc } = peer;
    pc.onnegotiationneeded = pc.onicecandidate = pc.ontrack = null;
    pc.oniceconnectionstatechange = pc.onconnectionstatechange = pc.onsignalingstatechange = null;
    pc.close();
    this.onState(id);
  }

  closeAll() {
    for (const id of this.ids()) this.close(id);
  }

  state(id) {
    const peer = this.peers.get(id);
    return peer ? peer.pc.connectionState || peer.pc.iceConnectionState : "none";
  }

  states() {
    const out = {};
    for (const [id, { pc }] of this.peers) {
      out[id] = { connection: pc.connectionState, ice: pc.iceConnectionState, signaling: pc.signalingState };
    }
    return out;
  }
}
