// Group rooms through Janus (docs/sfu.md): instead of one connection per other person,
// this page sends its camera and microphone once, to the media server, and receives
// everyone else's streams on one connection from it.
//
// - Publisher: a VideoRoom publisher whose id is our participant id. The camera goes
//   out in three simulcast layers (VP8), so that each viewer gets the layer its tiles
//   need; a screen share is a second publisher (id + SCREEN_FEED_OFFSET).
// - Subscriber: one multistream subscription to every other publisher, renegotiated
//   as publishers come and go. The layer each remote camera is sent in follows the size
//   of its tile and falls back when the connection loses packets.
// - Credentials: short-lived tokens from the room socket (`sfu.credentials`), asked
//   again before they expire; a new `generation` of the room (the media server
//   restarted, the meeting moved to another one) means publishing again from scratch.
//
// Janus's talk events say who speaks: the room gives them the big tile.

import { JanusError, JanusSession } from "./janus-session.js";

export const SCREEN_FEED_OFFSET = 1e12;
// Highest first, as Janus numbers them: substream 2 is "h".
// Browsers send three layers only from a picture of 960×540 or more (a 640×360 camera
// gives two): on the media server the camera is asked for this height, the top layer.
export const SIMULCAST_HEIGHT = 720;
const CAMERA_LAYERS = [
  { rid: "h", maxBitrate: 900_000 },
  { rid: "m", maxBitrate: 300_000, scaleResolutionDownBy: 2 },
  { rid: "l", maxBitrate: 100_000, scaleResolutionDownBy: 4 },
];
export const LAYER_FOR_SIZE = { large: 2, medium: 1, small: 0, hidden: 0 };
const RETRY_MS = [500, 1000, 2000, 4000, 8000];
const RENEW_BEFORE_S = 30;
const QUALITY_CHECK_MS = 3000;
const LOSS_STEP_DOWN = 0.05; // a tenth of a percent would be noise; five percent is not
const CALM_CHECKS_BEFORE_STEP_UP = 4;

// A start (connect, publish, subscribe) that a newer one replaced: it stops quietly.
class Superseded extends Error {}

export class SfuConnection {
  // request(type, body): the room socket; localTracks(): {audio, video, cameraStream};
  // onStreams(id): a participant's streams from the media server changed;
  // onTalking(id, talking); onState(state): connecting, connected, reconnecting, failed.
  constructor({ selfId, name, request, localTracks, onStreams, onTalking = () => {}, onState = () => {}, iceServers = [] }) {
    this.selfId = selfId;
    this.name = name;
    this.request = request;
    this.localTracks = localTracks;
    this.onStreams = onStreams;
    this.onTalking = onTalking;
    this.onState = onState;
    this.iceServers = iceServers;
    this.topology = null;
    this.credentials = null;
    this.session = null;
    this.publisher = null; // {handle, pc, senders: {audio, video}}
    this.screen = null; // {handle, pc}
    this.subscriber = null; // {handle, pc, feeds: Map feedId → [{mid, type}], pending promise}
    this.remote = new Map(); // participant id → {camera: MediaStream, screen: MediaStream}
    this.midToFeed = new Map();
    this.layers = new Map(); // feed id → wanted substream
    this.cap = 2; // highest substream the connection may carry now
    this.calmChecks = 0;
    this.lastLoss = null;
    this.renewTimer = 0;
    this.retryTimer = 0;
    this.qualityTimer = 0;
    this.attempt = 0;
    this.state = "idle";
    this.stopped = false;
    this.serial = Promise.resolve(); // subscriber renegotiations, one at a time
    this.runs = 0; // each start counts one; only the newest may touch the connection
  }

  // --- Life cycle ------------------------------------------------------------------

  // The room's `media` topology (snapshot section or `media.topology` event).
  async apply(topology) {
    if (!topology || topology.mode !== "sfu" || topology.state !== "ready") return;
    const fresh = !this.topology || topology.generation !== this.topology.generation || topology.room !== this.topology.room;
    this.topology = topology;
    if (fresh) await this.restart();
  }

  // A retry may still be on its way when the room's new generation arrives (the media
  // server restarted): the newest start wins, and an older one that fails later must
  // neither tear the new connection down nor schedule a retry of its own.
  async restart() {
    const run = ++this.runs;
    this.teardown();
    this.stopped = false;
    clearTimeout(this.retryTimer);
    this.setState(this.attempt ? "reconnecting" : "connecting");
    try {
      await this.connect(run);
      this.attempt = 0;
      this.setState("connected");
    } catch (error) {
      if (run !== this.runs) return;
      this.teardown();
      this.scheduleRetry(error);
    }
  }

  current(run) {
    if (run !== this.runs) throw new Superseded("replaced by a newer start");
  }

  scheduleRetry(error) {
    if (this.stopped) return;
    const delay = RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)];
    this.attempt += 1;
    this.setState("reconnecting");
    console.warn("Media server:", error && error.message, `— trying again in ${delay} ms`);
    this.retryTimer = setTimeout(() => this.restart(), delay);
  }

  stop() {
    this.stopped = true;
    this.runs += 1;
    clearTimeout(this.retryTimer);
    this.teardown();
    this.setState("idle");
  }

  teardown() {
    clearTimeout(this.renewTimer);
    clearInterval(this.qualityTimer);
    for (const part of [this.publisher, this.screen, this.subscriber]) if (part?.pc) part.pc.close();
    this.publisher = this.screen = this.subscriber = null;
    if (this.session) this.session.close();
    this.session = null;
    const gone = [...this.remote.keys()];
    this.remote.clear();
    this.midToFeed.clear();
    this.serial = Promise.resolve(); // a new connection does not wait behind the old one's steps
    for (const id of gone) this.onStreams(id);
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.onState(state);
  }

  async connect(run) {
    const credentials = await this.request("sfu.credentials", {});
    this.current(run);
    this.credentials = credentials;
    const session = new JanusSession(credentials.server, {
      token: credentials.core_token,
      onClose: () => {
        if (!this.stopped && this.session === session) this.scheduleRetry(new JanusError(0, "connection lost"));
      },
    });
    try {
      await session.connect();
      this.current(run);
    } catch (error) {
      session.close();
      throw error;
    }
    this.session = session;
    this.scheduleRenewal();
    await this.joinAsPublisher(run);
    this.current(run);
    await this.publish();
    this.current(run);
    this.qualityTimer = setInterval(() => this.checkQuality(), QUALITY_CHECK_MS);
  }

  scheduleRenewal() {
    const seconds = Math.max(5, (this.credentials.expires_in || 60) - RENEW_BEFORE_S);
    this.renewTimer = setTimeout(async () => {
      try {
        const fresh = await this.request("sfu.credentials", {});
        if (fresh.generation !== this.credentials.generation) return this.apply({ ...fresh, mode: "sfu", state: "ready" });
        this.credentials = fresh;
        if (this.session) this.session.token = fresh.core_token;
      } catch (error) {
        console.warn("Media server credentials:", error.message);
      }
      this.scheduleRenewal();
    }, seconds * 1000);
  }

  // --- Publishing ----------------------------------------------------------------------

  // Joining as a publisher (even without publishing) brings the room's events: who
  // publishes, who stops, who talks.
  async joinAsPublisher(run) {
    const handle = await this.session.attach(`parley-${this.selfId}`);
    this.current(run);
    handle.listen((message) => this.onPublisherEvent(message));
    const { data } = await handle.message({
      request: "join",
      ptype: "publisher",
      room: this.credentials.room,
      id: this.credentials.publisher_id,
      display: this.name,
      token: this.credentials.room_token,
    });
    this.current(run);
    this.publisher = { handle, pc: null, senders: { audio: null, video: null } };
    await this.subscribeTo(data.publishers || []);
  }

  newConnection() {
    return new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: "max-bundle" });
  }

  // Sends our camera and microphone (a transceiver for each, even when off: turning
  // one on later replaces the track without a new negotiation).
  async publish() {
    const local = this.localTracks();
    if (this.publisher.pc) return this.replaceTracks(local);
    const pc = this.newConnection();
    const stream = local.cameraStream || new MediaStream();
    this.publisher.senders.audio = pc.addTransceiver(local.audio || "audio", { direction: "sendonly", streams: [stream] }).sender;
    this.publisher.senders.video = pc.addTransceiver(local.video || "video", {
      direction: "sendonly",
      streams: [stream],
      sendEncodings: CAMERA_LAYERS.map((layer) => ({ ...layer })),
    }).sender;
    this.publisher.pc = pc;
    await this.negotiatePublisher(this.publisher.handle, pc, { request: "publish", display: this.name });
  }

  async replaceTracks(local) {
    const { senders } = this.publisher;
    if (senders.audio && senders.audio.track !== (local.audio || null)) await senders.audio.replaceTrack(local.audio || null);
    if (senders.video && senders.video.track !== (local.video || null)) await senders.video.replaceTrack(local.video || null);
  }

  async negotiatePublisher(handle, pc, body) {
    pc.onicecandidate = (event) => handle.trickle(event.candidate);
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const { jsep } = await handle.message(body, offer);
    if (!jsep) throw new JanusError(0, "The media server sent no answer.");
    await pc.setRemoteDescription(jsep);
  }

  // The screen share: a publisher of its own, so that viewers get it full size.
  async publishScreen(track, stream) {
    await this.unpublishScreen();
    if (!this.session) return;
    const handle = await this.session.attach(`parley-${this.selfId}-screen`);
    await handle.message({
      request: "join",
      ptype: "publisher",
      room: this.credentials.room,
      id: this.credentials.publisher_id + SCREEN_FEED_OFFSET,
      display: `${this.name} (screen)`,
      token: this.credentials.room_token,
    });
    const pc = this.newConnection();
    pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    this.screen = { handle, pc };
    await this.negotiatePublisher(handle, pc, { request: "publish" });
  }

  async unpublishScreen() {
    const screen = this.screen;
    this.screen = null;
    if (!screen) return;
    screen.pc.close();
    await screen.handle.detach();
  }

  onPublisherEvent(message) {
    const data = message.plugindata?.data;
    if (!data) {
      if (message.janus === "hangup" && !this.stopped) this.scheduleRetry(new JanusError(0, "the media server hung up"));
      return;
    }
    if (data.videoroom === "talking" || data.videoroom === "stopped-talking") {
      this.onTalking(participantOf(data.id), data.videoroom === "talking");
    } else if (data.publishers) {
      this.subscribeTo(data.publishers);
    } else if (data.unpublished !== undefined || data.leaving !== undefined || data.kicked !== undefined) {
      const feed = data.unpublished ?? data.leaving ?? data.kicked;
      if (typeof feed === "number") this.unsubscribeFrom(feed);
    } else if (data.error_code === 426 || data.videoroom === "destroyed") {
      this.scheduleRetry(new JanusError(426, "the room is gone"));
    }
  }

  // --- Receiving -----------------------------------------------------------------------

  // Subscribes to publishers (their streams that are active), in one renegotiation.
  // Which feeds are new is decided when the step runs, not when it is queued: two
  // announcements of one publisher (the join's list, then an event) must not
  // subscribe to it twice (Janus would send it twice, in two m-lines).
  subscribeTo(publishers) {
    const offered = [];
    for (const publisher of publishers) {
      if (publisher.id === this.credentials.publisher_id || publisher.dummy) continue;
      const active = (publisher.streams || []).filter((stream) => !stream.disabled && stream.type !== "data");
      for (const stream of active) offered.push({ feed: publisher.id, mid: stream.mid });
    }
    if (!offered.length) return Promise.resolve();
    return this.serially(() => {
      const streams = offered.filter(({ feed }) => !this.subscriber?.feeds.has(feed));
      if (!streams.length) return undefined;
      return this.subscriber ? this.addSubscriptions(streams) : this.startSubscriber(streams);
    });
  }

  unsubscribeFrom(feed) {
    if (!this.subscriber?.feeds.has(feed)) return Promise.resolve();
    return this.serially(async () => {
      if (!this.subscriber?.feeds.has(feed)) return;
      const { data, jsep } = await this.subscriber.handle.message({ request: "unsubscribe", streams: [{ feed }] });
      this.subscriber.feeds.delete(feed);
      this.forgetFeed(feed);
      await this.answerSubscriber(data, jsep);
    });
  }

  // Subscriber steps run one at a time, each for the start that queued it: one queued
  // by an older start (the media server restarted since) is dropped.
  serially(step) {
    const run = this.runs;
    const next = this.serial
      .then(() => {
        this.current(run);
        return step();
      })
      .catch((error) => {
        if (!this.stopped && !(error instanceof Superseded)) console.warn("Media server subscription:", error.message);
      });
    this.serial = next;
    return next;
  }

  async startSubscriber(streams) {
    const session = this.session;
    const handle = await session.attach(`parley-${this.selfId}-receive`);
    if (this.session !== session) throw new Superseded("the connection was replaced");
    const pc = this.newConnection();
    pc.ontrack = (event) => this.onTrack(event);
    pc.onicecandidate = (event) => handle.trickle(event.candidate);
    const subscriber = (this.subscriber = { handle, pc, feeds: new Set() });
    handle.listen((message) => this.onSubscriberEvent(subscriber, message));
    const { data, jsep } = await handle.message({
      request: "join",
      ptype: "subscriber",
      room: this.credentials.room,
      streams,
      token: this.credentials.room_token,
    });
    if (this.subscriber !== subscriber) throw new Superseded("the connection was replaced");
    for (const { feed } of streams) subscriber.feeds.add(feed);
    await this.answerSubscriber(data, jsep);
  }

  async addSubscriptions(streams) {
    const subscriber = this.subscriber;
    const { data, jsep } = await subscriber.handle.message({ request: "subscribe", streams });
    if (this.subscriber !== subscriber) throw new Superseded("the connection was replaced");
    for (const { feed } of streams) subscriber.feeds.add(feed);
    await this.answerSubscriber(data, jsep);
  }

  // Janus offers, we answer with "start": the streams map each m-line to a feed.
  async answerSubscriber(data, jsep) {
    if (data.streams) this.mapStreams(data.streams);
    if (!jsep) return;
    const { pc, handle } = this.subscriber;
    await pc.setRemoteDescription(jsep);
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await handle.message({ request: "start" }, answer);
    this.applyLayers();
  }

  // Janus renegotiates on its own too: a publisher we receive left or changed, or a
  // request of ours that it postponed ("updating": it was still waiting for our answer
  // to an earlier offer) is ready. Its offer must be answered like ours, in turn;
  // unanswered, Janus would postpone every later subscription and send nothing more.
  onSubscriberEvent(subscriber, message) {
    const data = message.plugindata?.data;
    if (data?.videoroom !== "updated" || this.subscriber !== subscriber) return;
    if (!message.jsep) {
      if (data.streams) this.mapStreams(data.streams);
      return;
    }
    this.serially(async () => {
      if (this.subscriber !== subscriber) throw new Superseded("the connection was replaced");
      await this.answerSubscriber(data, message.jsep);
    });
  }

  mapStreams(streams) {
    this.midToFeed.clear();
    for (const stream of streams) {
      if (stream.active === false || stream.feed_id === undefined) continue;
      this.midToFeed.set(stream.mid, { feed: stream.feed_id, type: stream.type });
    }
  }

  onTrack(event) {
    const mapped = this.midToFeed.get(event.transceiver.mid);
    if (!mapped) return;
    const id = participantOf(mapped.feed);
    const slot = mapped.feed >= SCREEN_FEED_OFFSET ? "screen" : "camera";
    const entry = this.remote.get(id) || { camera: null, screen: null };
    if (!entry[slot]) entry[slot] = new MediaStream();
    const stream = entry[slot];
    for (const old of stream.getTracks().filter((track) => track.kind === event.track.kind)) stream.removeTrack(old);
    stream.addTrack(event.track);
    this.remote.set(id, entry);
    event.track.onended = () => this.onStreams(id);
    this.onStreams(id);
  }

  forgetFeed(feed) {
    const id = participantOf(feed);
    const entry = this.remote.get(id);
    if (!entry) return;
    entry[feed >= SCREEN_FEED_OFFSET ? "screen" : "camera"] = null;
    if (!entry.camera && !entry.screen) this.remote.delete(id);
    this.onStreams(id);
  }

  // Someone left the room (the room socket said so): their streams are gone here too,
  // whatever Janus says later.
  forget(id) {
    for (const feed of [id, id + SCREEN_FEED_OFFSET]) this.unsubscribeFrom(feed);
    if (this.remote.delete(id)) this.onStreams(id);
  }

  cameraStream(id) {
    return this.remote.get(id)?.camera || null;
  }

  screenStream(id) {
    return this.remote.get(id)?.screen || null;
  }

  has(id) {
    return this.remote.has(id);
  }

  // --- Layers --------------------------------------------------------------------------

  // How big a participant's tile is now: "large" (the stage, the speaker), "medium",
  // "small" (a crowded grid) or "hidden".
  setTileSize(id, size) {
    const layer = LAYER_FOR_SIZE[size] ?? 1;
    if (this.layers.get(id) === layer) return;
    this.layers.set(id, layer);
    this.applyLayers();
  }

  applyLayers() {
    if (!this.subscriber) return;
    const streams = [];
    for (const [mid, { feed, type }] of this.midToFeed) {
      if (type !== "video" || feed >= SCREEN_FEED_OFFSET) continue;
      const wanted = this.layers.has(participantOf(feed)) ? this.layers.get(participantOf(feed)) : 1;
      streams.push({ mid, substream: Math.min(wanted, this.cap) });
    }
    if (streams.length) this.subscriber.handle.message({ request: "configure", streams }).catch(() => {});
  }

  // Packet loss on what we receive: one layer down at once, one up after a calm while.
  async checkQuality() {
    if (!this.subscriber) return;
    let lost = 0;
    let received = 0;
    const stats = await this.subscriber.pc.getStats().catch(() => null);
    if (!stats) return;
    stats.forEach((report) => {
      if (report.type === "inbound-rtp" && report.kind === "video") {
        lost += report.packetsLost || 0;
        received += report.packetsReceived || 0;
      }
    });
    const previous = this.lastLoss;
    this.lastLoss = { lost, received };
    if (!previous) return;
    const newReceived = received - previous.received;
    const newLost = lost - previous.lost;
    const loss = newReceived + newLost > 0 ? newLost / (newReceived + newLost) : 0;
    if (loss > LOSS_STEP_DOWN && this.cap > 0) {
      this.cap -= 1;
      this.calmChecks = 0;
      this.applyLayers();
    } else if (loss < LOSS_STEP_DOWN / 5 && this.cap < 2 && ++this.calmChecks >= CALM_CHECKS_BEFORE_STEP_UP) {
      this.cap += 1;
      this.calmChecks = 0;
      this.applyLayers();
    }
  }

  // --- For the statistics panel ---------------------------------------------------------

  connections() {
    const list = [];
    if (this.publisher?.pc) list.push({ label: "publisher", pc: this.publisher.pc });
    if (this.screen?.pc) list.push({ label: "screen", pc: this.screen.pc });
    if (this.subscriber?.pc) list.push({ label: "subscriber", pc: this.subscriber.pc, streams: this.midToFeed.size });
    return list;
  }
}

export function participantOf(feed) {
  return feed >= SCREEN_FEED_OFFSET ? feed - SCREEN_FEED_OFFSET : feed;
}
