// A scriptable engine.io-client 3.x (Engine.IO v3: what socket.io-client 2.x rides on) for the
// allow_eio3 tests.
// usage: node eio_peer_v3.js URL OPTIONS_JSON (engine.io-client 3's options: transports, path,
// forceBase64, ...). Commands arrive as JSON lines on stdin, events leave as JSON lines on stdout.
"use strict";
const Socket = require("engine.io-client-v3");
const readline = require("readline");

const [url, optionsJson] = process.argv.slice(2);
const socket = new Socket(url, JSON.parse(optionsJson || "{}"));

function out(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

function wire(data) {
  if (typeof data === "string") return { text: data };
  return { binary: Buffer.from(data).toString("hex") };
}

// The client pings in v3; "dropPings" stops it, and stops its own wait for the server's pongs
// (else it would close itself at the same moment as the server times it out).
function dropPings() {
  socket.removeListener("heartbeat", socket.onHeartbeat);
  clearTimeout(socket.pingIntervalTimer);
  clearTimeout(socket.pingTimeoutTimer);
  socket.setPing = () => {};
  socket.ping = () => {};
}

socket.on("handshake", (data) => out({ event: "handshake", data }));
socket.on("open", () => out({ event: "open", id: socket.id, transport: socket.transport.name }));
socket.on("message", (data) => out({ event: "message", ...wire(data) }));
socket.on("upgrade", (transport) => out({ event: "upgrade", transport: transport.name }));
socket.on("ping", () => out({ event: "ping" }));
socket.on("pong", () => out({ event: "pong" }));
socket.on("error", (err) => {
  out({ event: "error", message: String(err && err.message ? err.message : err), description: err && err.description !== undefined ? String(err.description) : null });
});
socket.on("close", (reason, description) => {
  let detail = null;
  if (description) detail = description.message || description.description || String(description);
  out({ event: "close", reason, detail });
  setTimeout(() => process.exit(0), 10);
});

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line);
  switch (cmd.cmd) {
    case "send":
      socket.send(cmd.text);
      break;
    case "sendBinary":
      socket.send(Buffer.from(cmd.hex, "hex"));
      break;
    case "dropPings":
      dropPings();
      out({ event: "ack", cmd: "dropPings" });
      break;
    case "close":
      socket.close();
      break;
    case "exit":
      process.exit(0);
  }
});
