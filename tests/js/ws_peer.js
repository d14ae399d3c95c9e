// A scriptable WebSocket client (the `ws` package, as the official protocol suites use) for the tests.
// usage: node ws_peer.js URL
// Reads commands as JSON lines on stdin, writes events as JSON lines on stdout.
"use strict";
const WebSocket = require("ws");
const readline = require("readline");

const [url] = process.argv.slice(2);

function out(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

const socket = new WebSocket(url);
socket.on("open", () => out({ event: "open" }));
socket.on("message", (data, isBinary) =>
  out(isBinary ? { event: "message", binary: Buffer.from(data).toString("hex") } : { event: "message", text: data.toString() })
);
socket.on("unexpected-response", (req, res) => {
  out({ event: "unexpected-response", status: res.statusCode });
  setTimeout(() => process.exit(0), 10);
});
socket.on("error", (err) => out({ event: "error", message: String(err && err.message ? err.message : err) }));
socket.on("close", (code, reason) => {
  out({ event: "close", code, reason: reason.toString() });
  setTimeout(() => process.exit(0), 10);
});

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line);
  switch (cmd.cmd) {
    case "send":
      socket.send(cmd.text);
      break;
    case "close":
      socket.close();
      break;
    case "exit":
      process.exit(0);
  }
});
