// Drives one instrumented server (sio, or the Node reference admin_node.js) as the Admin UI does,
// through a scripted scenario, and prints what the admin socket received, as one JSON line.
// usage: node admin_peer.js URL SCENARIO OPTIONS_JSON
//   SCENARIO: "traffic" (development mode: every event of a scripted session, then the traffic
//             totals), "login" (credentials / session id checks), "readonly", "production"
//   OPTIONS_JSON: {"username", "password", "sessionId"}
// Every step waits for the admin event it causes (no sleeps); a hang ends at the 20 s guard.
"use strict";
const { io } = require("socket.io-client");

const [url, scenario, optionsJson] = process.argv.slice(2);
const options = JSON.parse(optionsJson || "{}");
const GUARD_MS = 20000;

// Packets with a payload each client's engine sent and received (what the server's counters count).
const traffic = { packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0 };
let lastPacketBytes = 0; // the size of the last packet with a payload any client received
function byteLength(data) {
  if (typeof data === "string") return Buffer.byteLength(data);
  return data.byteLength;
}
function countTraffic(socket) {
  const watch = (engine) => {
    engine.on("packetCreate", ({ data }) => {
      if (data) {
        traffic.packetsIn++;
        traffic.bytesIn += byteLength(data);
      }
    });
    engine.on("packet", ({ type, data }) => {
      if (data && type !== "open") {  // Node's engine sends it before the admin can listen
        traffic.packetsOut++;
        traffic.bytesOut += byteLength(data);
        lastPacketBytes = byteLength(data);
      }
    });
  };
  socket.io.on("open", () => watch(socket.io.engine));
}

function client(nsp, opts = {}) {
  const socket = io(url + nsp, { forceNew: true, reconnection: false, ...opts, autoConnect: false });
  countTraffic(socket);
  socket.connect();
  return socket;
}

function connected(socket) {
  return new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
}

// The admin socket: every event it gets, in order, with a way to wait for one.
const received = [];
const waiters = [];
function record(event, args) {
  received.push({ event, args });
  for (const waiter of [...waiters]) {
    if (waiter.match(event, args)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(args);
    }
  }
}
function waitFor(event, match = () => true) {
  const found = received.find((r) => r.event === event && match(r.args) && !r.taken);
  if (found) {
    found.taken = true;
    return Promise.resolve(found.args);
  }
  return new Promise((resolve) => {
    waiters.push({ match: (e, args) => e === event && match(args), resolve });
  });
}

function admin(auth) {
  const socket = client("/admin", { auth });
  socket.onAny((event, ...args) => record(event, args));
  return socket;
}

async function trafficScenario() {
  const adminSocket = admin({ username: options.username, password: options.password });
  await connected(adminSocket);
  await waitFor("all_sockets");
  await waitFor("server_stats");
  const ids = {};
  // A WebSocket-only client on "/", with a query; a middleware sets socket.data.early.
  const c1 = client("/", { transports: ["websocket"], query: { x: "1" } });
  await connected(c1);
  ids.c1 = c1.id;
  ids.c1Engine = c1.io.engine.id;
  await waitFor("socket_connected", ([s]) => s.id === ids.c1);
  // An event with an ack, answered, and one emitted back.
  const answer = await c1.emitWithAck("hello", "bob");
  if (answer !== "hello bob") throw new Error(`ack: ${answer}`);
  await waitFor("event_sent", ([nsp, id, args]) => id === ids.c1 && args[0] === "greet");
  // A room joined and socket.data written by the handler.
  c1.emit("join", "room1");
  await waitFor("socket_updated", ([s]) => s.id === ids.c1 && s.data && s.data.user === "alice");
  // Binary both ways (two Engine.IO packets each).
  c1.emit("binary", Buffer.from([1, 2, 3, 4, 5]));
  await waitFor("event_sent", ([nsp, id, args]) => id === ids.c1 && args[0] === "binary");
  // A polling client on /chat that upgrades.
  const c2 = client("/chat");
  await connected(c2);
  ids.c2 = c2.id;
  ids.c2Engine = c2.io.engine.id;
  await waitFor("socket_updated", ([s]) => s.id === ids.c2 && s.transport === "websocket");
  // A dynamic namespace's child, created by this connection.
  const c3 = client("/dyn-1", { transports: ["websocket"] });
  await connected(c3);
  ids.c3 = c3.id;
  ids.c3Engine = c3.io.engine.id;
  await waitFor("socket_connected", ([s]) => s.id === ids.c3);
  // The UI's commands: join (by socket id), emit (to a room), disconnect (by socket id).
  adminSocket.emit("join", "/", "room2", ids.c1);
  await waitFor("room_joined", ([nsp, room, id]) => room === "room2" && id === ids.c1);
  const announced = new Promise((resolve) => c1.once("announce", resolve));
  adminSocket.emit("emit", "/", "room1", "announce", 42, "x");
  await announced;
  await waitFor("event_sent", ([nsp, id, args]) => id === ids.c1 && args[0] === "announce");
  adminSocket.emit("leave", "/", "room2", ids.c1);
  await waitFor("room_left", ([nsp, room, id]) => room === "room2" && id === ids.c1);
  const c2Gone = new Promise((resolve) => c2.once("disconnect", resolve));
  adminSocket.emit("_disconnect", "/chat", false, ids.c2);
  const c2Reason = await c2Gone;
  await waitFor("socket_disconnected", ([nsp, id]) => id === ids.c2);
  await waitFor("room_left", ([nsp, room, id]) => id === ids.c2);
  c2.close();
  // The client leaves by itself.
  c1.disconnect();
  await waitFor("socket_disconnected", ([nsp, id]) => id === ids.c1);
  await waitFor("room_left", ([nsp, room, id]) => room === "room1" && id === ids.c1);
  c3.disconnect();
  await waitFor("socket_disconnected", ([nsp, id]) => id === ids.c3);
  await waitFor("room_left", ([nsp, room, id]) => id === ids.c3);
  const steps = received.length;
  // The traffic totals: the server's aggregated events add up to what the clients counted,
  // each server_stats counting everything up to its own packet (sent after it was sampled).
  const totals = { packetsIn: 0, bytesIn: 0, packetsOut: 0, bytesOut: 0 };
  let rawConnection = 0;
  const rawDisconnection = {};
  const sumStats = (stats) => {
    for (const e of stats.aggregatedEvents) {
      if (e.type in totals) totals[e.type] += e.count;
      if (e.type === "rawConnection") rawConnection += e.count;
      if (e.type === "rawDisconnection") rawDisconnection[e.subType] = (rawDisconnection[e.subType] || 0) + e.count;
    }
  };
  for (const r of received) {
    if (r.event === "server_stats" && !r.taken) {
      r.taken = true;
      sumStats(r.args[0]);
    }
  }
  let lastStats = null;
  let expected = null;
  for (;;) {
    const [stats] = await waitFor("server_stats");
    sumStats(stats);
    lastStats = stats;
    // What the clients had counted when this stats packet arrived, less that packet itself.
    expected = { ...traffic };
    expected.packetsOut -= 1;
    expected.bytesOut -= lastPacketBytes;
    if (JSON.stringify(totals) === JSON.stringify(expected) && stats.clientsCount === 1) break;
  }
  adminSocket.close();
  return {
    ids,
    c2Reason,
    events: received.slice(0, steps).map(({ event, args }) => ({ event, args })),
    totals,
    expected,
    rawConnection,
    rawDisconnection,
    lastStats,
  };
}

async function loginScenario() {
  const result = {};
  // Wrong password, unknown user, no credentials.
  for (const [name, auth] of [
    ["wrongPassword", { username: options.username, password: "nope" }],
    ["wrongUser", { username: "someone", password: options.password }],
    ["nothing", {}],
    ["unknownSession", { sessionId: "0123456789abcdef" }],
  ]) {
    const socket = admin(auth);
    try {
      await connected(socket);
      result[name] = "connected";
    } catch (err) {
      result[name] = { message: err.message, data: err.data === undefined ? null : err.data };
    }
    socket.close();
  }
  // A login: the session event comes before the connection, then config and all_sockets.
  received.length = 0;
  const first = admin({ username: options.username, password: options.password });
  const order = [];
  first.on("session", () => order.push("session"));
  first.on("connect", () => order.push("connect"));
  first.on("config", () => order.push("config"));
  first.on("all_sockets", () => order.push("all_sockets"));
  await connected(first);
  const [sessionId] = await waitFor("session");
  await waitFor("config");
  result.order = order.slice(0, 3);
  result.sessionId = sessionId;
  first.close();
  // The session id reused without the password: accepted, no new session.
  received.length = 0;
  const again = admin({ sessionId: options.sessionId || sessionId });
  await connected(again);
  const [config] = await waitFor("config");
  result.reusedConfig = config;
  result.reusedEvents = received.map((r) => r.event).filter((e) => e === "session");
  again.close();
  return result;
}

async function configScenario() {
  const socket = admin(options.username ? { username: options.username, password: options.password } : {});
  await connected(socket);
  const [config] = await waitFor("config");
  const [stats] = await waitFor("server_stats");
  // A client connecting and sending an event: production mode sends nothing of it.
  const c1 = client("/", { transports: ["websocket"] });
  await connected(c1);
  await c1.emitWithAck("hello", "x");
  // The UI's commands: ignored when readonly.
  const joined = new Promise((resolve) => c1.once("announce", () => resolve("announced")));
  socket.emit("emit", "/", c1.id, "announce", 1);
  const outcome = await Promise.race([joined, waitFor("server_stats").then(() => waitFor("server_stats")).then(() => "ignored")]);
  if (config.supportedFeatures.includes("ALL_EVENTS")) {
    // The events of this traffic reach the admin on its own connection: wait for them.
    await waitFor("event_received", ([nsp, id, args]) => args[0] === "hello");
    if (outcome === "announced") await waitFor("event_sent", ([nsp, id, args]) => args[0] === "announce");
  }
  c1.close();
  socket.close();
  // (socket_updated, the admin socket's own upgrade, comes whenever the upgrade completes.)
  const events = [...new Set(received.map((r) => r.event))].filter((e) => e !== "socket_updated").sort();
  return { config, statsKeys: Object.keys(stats), events, emitOutcome: outcome };
}

// Two servers of one cluster (a Redis adapter, sessions in Redis): the admin on URL, a client on
// options.otherUrl, its events and the UI's commands crossing the cluster, the session shared.
async function clusterScenario() {
  const adminSocket = admin({ username: options.username, password: options.password });
  await connected(adminSocket);
  const [sessionId] = await waitFor("session");
  await waitFor("all_sockets");
  const servers = new Set();
  const c1 = io(options.otherUrl, { forceNew: true, reconnection: false, transports: ["websocket"] });
  await connected(c1);
  const id = c1.id;
  const [connectedSocket] = await waitFor("socket_connected", ([s]) => s.id === id);
  const joined = await waitFor("room_joined", ([nsp, room, sid]) => sid === id);
  // A second admin socket: all_sockets holds the other server's socket (fetch_sockets).
  const second = admin({ username: options.username, password: options.password });
  const secondSockets = new Promise((resolve) => second.once("all_sockets", resolve));
  await connected(second);
  const listed = (await secondSockets).find((s) => s.id === id);
  second.close();
  // The UI's emit and disconnect, sent here, act there.
  const announced = new Promise((resolve) => c1.once("announce", (...args) => resolve(args)));
  adminSocket.emit("emit", "/", id, "announce", "across");
  const announceArgs = await announced;
  const [, , sentArgs] = await waitFor("event_sent", ([nsp, sid, args]) => sid === id && args[0] === "announce");
  const gone = new Promise((resolve) => c1.once("disconnect", resolve));
  adminSocket.emit("_disconnect", "/", true, id);
  const reason = await gone;
  const [, , remoteReason] = await waitFor("socket_disconnected", ([nsp, sid]) => sid === id);
  // Stats from both servers, each with its serverId.
  while (servers.size < 2) {
    const [stats] = await waitFor("server_stats");
    servers.add(stats.serverId);
  }
  adminSocket.close();
  // The session id, made by this server, accepted by the other (the shared store).
  const elsewhere = io(options.otherUrl + "/admin", {
    forceNew: true,
    reconnection: false,
    auth: { sessionId },
  });
  let otherSession = false;
  elsewhere.on("session", () => (otherSession = true));
  const configured = new Promise((resolve) => elsewhere.once("config", resolve));
  await connected(elsewhere);
  const otherConfig = await configured;
  elsewhere.close();
  return {
    connectedSocket,
    joined,
    listed,
    announceArgs,
    sentArgs,
    reason,
    remoteReason,
    servers: [...servers].sort(),
    otherConfig,
    otherSession,
    sessionId,
  };
}

const scenarios = { traffic: trafficScenario, login: loginScenario, config: configScenario, cluster: clusterScenario };

const guard = setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: "timeout", received }) + "\n");
  process.exit(1);
}, GUARD_MS);

scenarios[scenario]()
  .then((result) => {
    clearTimeout(guard);
    process.stdout.write(JSON.stringify({ result }) + "\n");
    process.exit(0);
  })
  .catch((err) => {
    process.stdout.write(JSON.stringify({ error: String(err && err.stack), received }) + "\n");
    process.exit(1);
  });
