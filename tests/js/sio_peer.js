// A scriptable socket.io-client for the integration tests.
// usage: node sio_peer.js URL OPTIONS_JSON
// Commands arrive as JSON lines on stdin, events leave as JSON lines on stdout.
// Binary values travel in JSON as {"$bin": "<hex>"} in both directions.
"use strict";
const { toWire, fromWire } = require("./wire");
const { Manager } = require("socket.io-client");
const readline = require("readline");

const [url, optionsJson] = process.argv.slice(2);
const options = JSON.parse(optionsJson || "{}");
if (options.parser === "msgpack") options.parser = require("socket.io-msgpack-parser"); // the official one
const manager = new Manager(url, { reconnection: false, ...options });
const sockets = new Map(); // namespace -> socket
const replies = new Map(); // "nsp event" -> "echo" | "none" | [values]

function out(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

function open(nsp, auth) {
  const socket = manager.socket(nsp, auth ? { auth } : {});
  sockets.set(nsp, socket);
  socket.on("connect", () => out({ event: "connect", nsp, id: socket.id, recovered: socket.recovered }));
  socket.on("connect_error", (err) => out({ event: "connect_error", nsp, message: err.message, data: err.data === undefined ? null : err.data }));
  socket.on("disconnect", (reason, description) => {
    let detail = null;
    if (description) detail = description.message || description.description || String(description);
    out({ event: "disconnect", nsp, reason, detail });
  });
  socket.onAny((name, ...args) => {
    let ack = null;
    if (args.length && typeof args[args.length - 1] === "function") ack = args.pop();
    out({ event: "event", nsp, name, args: toWire(args), ack: ack !== null });
    if (ack) {
      const reply = replies.get(nsp + " " + name) || "echo";
      if (reply === "echo") ack(...args);
      else if (Array.isArray(reply)) ack(...fromWire(reply));
    }
  });
  if (!socket.active) socket.connect(); // the Manager connects new sockets itself (autoConnect)
  return socket;
}

manager.on("ping", () => out({ event: "ping" }));
manager.on("error", (err) => out({ event: "manager_error", message: String(err && err.message) }));

let dropPongs = false;
manager.on("open", () => {
  const engine = manager.engine;
  out({ event: "open", transport: engine.transport.name });
  engine.on("upgrade", (transport) => out({ event: "upgrade", transport: transport.name }));
  const sendPacket = engine._sendPacket.bind(engine);
  engine._sendPacket = (type, ...rest) => (type === "pong" && dropPongs ? undefined : sendPacket(type, ...rest));
});

readline.createInterface({ input: process.stdin }).on("line", async (line) => {
  const cmd = JSON.parse(line);
  const nsp = cmd.nsp || "/";
  const socket = sockets.get(nsp);
  switch (cmd.cmd) {
    case "connect":
      open(nsp, cmd.auth);
      break;
    case "emit": {
      const args = fromWire(cmd.args || []);
      if (cmd.ack) {
        const s = cmd.timeout === undefined ? socket : socket.timeout(cmd.timeout);
        s.emit(cmd.name, ...args, (...answer) => {
          if (cmd.timeout !== undefined) {
            const err = answer.shift();
            out({ event: "ack", ref: cmd.ref, error: err ? err.message : null, args: toWire(answer) });
          } else {
            out({ event: "ack", ref: cmd.ref, error: null, args: toWire(answer) });
          }
        });
      } else {
        socket.emit(cmd.name, ...args);
      }
      break;
    }
    case "reply":
      replies.set(nsp + " " + cmd.name, cmd.reply === "echo" || cmd.reply === "none" ? cmd.reply : cmd.reply);
      out({ event: "ok", cmd: "reply" });
      break;
    case "disconnect":
      socket.disconnect();
      break;
    case "closeEngine":
      manager.engine.close();
      break;
    case "reconnect": // connect again by hand (reconnection off): the CONNECT carries pid and offset
      socket.connect();
      break;
    case "dropPongs":
      dropPongs = true;
      out({ event: "ok", cmd: "dropPongs" });
      break;
    case "exit":
      process.exit(0);
  }
});
