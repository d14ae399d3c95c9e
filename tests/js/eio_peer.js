// A scriptable engine.io-client for the integration tests.
// usage: node eio_peer.js URL OPTIONS_JSON
// OPTIONS_JSON is engine.io-client's options, plus "fetch": true for its fetch() polling
// transport (Node's fetch sends Accept-Encoding and decodes gzip/deflate, as browsers do).
// Reads commands as JSON lines on stdin, writes events as JSON lines on stdout.
"use strict";
const { Socket, Fetch } = require("engine.io-client");
const readline = require("readline");

const [url, optionsJson] = process.argv.slice(2);
const options = JSON.parse(optionsJson || "{}");
if (options.fetch) {
  delete options.fetch;
  options.transports = [Fetch];
}

function out(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

function wire(data) {
  if (typeof data === "string") return { text: data };
  return { binary: Buffer.from(data).toString("hex") };
}

const socket = new Socket(url, options);
let dropPongs = false;
const sendPacket = socket._sendPacket.bind(socket);
socket._sendPacket = (type, ...rest) => {
  if (type === "pong" && dropPongs) return;
  return sendPacket(type, ...rest);
};

socket.on("open", () => out({ event: "open", id: socket.id, transport: socket.transport.name }));
socket.on("handshake", (data) => out({ event: "handshake", data }));
socket.on("message", (data) => out({ event: "message", ...wire(data) }));
socket.on("upgrade", (transport) => out({ event: "upgrade", transport: transport.name }));
socket.on("ping", () => out({ event: "ping" }));
socket.on("error", (err) => out({ event: "error", message: String(err && err.message ? err.message : err) }));
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
    case "dropPongs":
      dropPongs = true;
      out({ event: "ack", cmd: "dropPongs" });
      break;
    case "close":
      socket.close();
      break;
    case "exit":
      process.exit(0);
  }
});
