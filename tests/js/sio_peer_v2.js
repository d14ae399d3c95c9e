// A scriptable socket.io-client 2.x (Engine.IO v3, Socket.IO protocol v4) for the allow_eio3 tests.
// usage: node sio_peer_v2.js URL OPTIONS_JSON (the Manager's options: transports, forceBase64, query, ...)
// Commands arrive as JSON lines on stdin, events leave as JSON lines on stdout.
// Binary values travel in JSON as {"$bin": "<hex>"} in both directions (as sio_peer.js).
"use strict";
const { toWire, fromWire } = require("./wire");
const { Manager } = require("socket.io-client-v2");
const readline = require("readline");

const [url, optionsJson] = process.argv.slice(2);
const options = JSON.parse(optionsJson || "{}");
// autoConnect off: the connection opens with the first "connect" command.
const manager = new Manager(url, { reconnection: false, autoConnect: false, ...options });
const sockets = new Map(); // namespace -> socket
const replies = new Map(); // "nsp event" -> "echo" | "none" | [values]

function out(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

function open(nsp, query) {
  const socket = manager.socket(nsp, query ? { query } : {});
  sockets.set(nsp, socket);
  socket.on("connect", () => out({ event: "connect", nsp, id: socket.id }));
  // A middleware's refusal (an ERROR packet), as socket.io-client 2.x reports it.
  socket.on("error", (data) => out({ event: "error", nsp, data: data === undefined ? null : data }));
  socket.on("disconnect", (reason) => out({ event: "disconnect", nsp, reason }));
  // socket.io-client 2.x has no onAny: every server event passes through onevent.
  socket.onevent = (packet) => {
    const args = (packet.data || []).slice();
    const name = args.shift();
    const ack = packet.id != null;
    out({ event: "event", nsp, name, args: toWire(args), ack });
    if (ack) {
      const answer = socket.ack(packet.id);
      const reply = replies.get(nsp + " " + name) || "echo";
      if (reply === "echo") answer(...args);
      else if (Array.isArray(reply)) answer(...fromWire(reply));
    }
  };
  socket.open();
  return socket;
}

// The client pings in v3; "dropPings" stops it, and stops its own wait for the server's pongs.
function dropPings() {
  const engine = manager.engine;
  engine.removeListener("heartbeat", engine.onHeartbeat);
  clearTimeout(engine.pingIntervalTimer);
  clearTimeout(engine.pingTimeoutTimer);
  engine.setPing = () => {};
  engine.ping = () => {};
}

manager.on("ping", () => out({ event: "ping" }));
manager.on("pong", () => out({ event: "pong" }));
manager.on("connect_error", (err) => {
  out({ event: "connect_error", message: String(err && err.message ? err.message : err), description: err && err.description !== undefined ? String(err.description) : null });
});
manager.on("open", () => {
  const engine = manager.engine;
  out({ event: "open", transport: engine.transport.name, sid: engine.id });
  engine.on("upgrade", (transport) => out({ event: "upgrade", transport: transport.name }));
});

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line);
  const nsp = cmd.nsp || "/";
  const socket = sockets.get(nsp);
  switch (cmd.cmd) {
    case "connect":
      open(nsp, cmd.query);
      break;
    case "emit": {
      const args = fromWire(cmd.args || []);
      if (cmd.ack) {
        socket.emit(cmd.name, ...args, (...answer) => out({ event: "ack", ref: cmd.ref, error: null, args: toWire(answer) }));
      } else {
        socket.emit(cmd.name, ...args);
      }
      break;
    }
    case "reply":
      replies.set(nsp + " " + cmd.name, cmd.reply);
      out({ event: "ok", cmd: "reply" });
      break;
    case "disconnect":
      socket.disconnect();
      break;
    case "closeEngine":
      manager.engine.close();
      break;
    case "dropPings":
      dropPings();
      out({ event: "ok", cmd: "dropPings" });
      break;
    case "exit":
      process.exit(0);
  }
});
