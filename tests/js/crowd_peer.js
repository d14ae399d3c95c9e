// Many official socket.io-client sockets in one node process, for the --workers tests.
// usage: node crowd_peer.js URL OPTIONS_JSON
//   OPTIONS_JSON: {"count": N, "transports": [...], "sharedPool": M}   (sharedPool: every client's
//   HTTP requests go through one keep-alive http.Agent of at most M sockets, as two browser tabs
//   share one connection pool; the agent records which session each request of a socket was for)
// Commands arrive as JSON lines on stdin, events leave as JSON lines on stdout:
//   {"cmd": "call", "ref": R, "name": E, "args": [...], "to": [i, ...] | null}  -> one "acks" event
//   {"cmd": "emit", "to": [i], "name": E, "args": [...]}
//   {"cmd": "pool"}    -> {"event": "pool", "sockets": n, "requests": n, "crossWorker": n}
//   {"cmd": "state"}   -> {"event": "state", "clients": [{"connected", "transport", "sid"}, ...]}
"use strict";
const http = require("http");
const readline = require("readline");
const { Manager } = require("socket.io-client");

const [url, optionsJson] = process.argv.slice(2);
const options = JSON.parse(optionsJson || "{}");
const count = options.count || 1;

function out(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

// The shared pool, and what it saw: per socket, the worker (first sid character) of each request.
let agent = null;
const pool = { sockets: 0, requests: 0, crossWorker: 0 };
if (options.sharedPool) {
  agent = new http.Agent({ keepAlive: true, maxSockets: options.sharedPool });
  const addRequest = agent.addRequest.bind(agent);
  agent.addRequest = (req, opts) => {
    const match = /[?&]sid=([^&]+)/.exec(req.path);
    req.once("socket", (socket) => {
      pool.requests += 1;
      if (socket.__worker === undefined) {
        pool.sockets += 1;
        socket.__worker = null;
      }
      const worker = match ? match[1][0] : null;
      if (worker !== null) {
        if (socket.__worker !== null && socket.__worker !== worker) pool.crossWorker += 1;
        socket.__worker = worker;
      }
    });
    return addRequest(req, opts);
  };
}

const clients = [];
for (let i = 0; i < count; i++) {
  const manager = new Manager(url, {
    reconnection: false,
    transports: options.transports || ["polling", "websocket"],
    ...(agent ? { agent } : {}), // else xmlhttprequest-ssl's default: a connection per request
  });
  const socket = manager.socket("/");
  clients.push({ manager, socket });
  manager.on("open", () => {
    manager.engine.on("upgrade", (transport) => out({ event: "upgrade", i, transport: transport.name }));
  });
  socket.on("connect", () => out({ event: "connect", i, id: socket.id, sid: manager.engine.id }));
  socket.on("connect_error", (err) => out({ event: "connect_error", i, message: err.message }));
  socket.on("disconnect", (reason) => out({ event: "disconnect", i, reason }));
  socket.onAny((name, ...args) => out({ event: "event", i, name, args }));
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = JSON.parse(line);
  const targets = cmd.to || clients.map((_, i) => i);
  switch (cmd.cmd) {
    case "call": {
      const answers = {};
      let left = targets.length;
      for (const i of targets) {
        clients[i].socket.timeout(10000).emit(cmd.name, ...(cmd.args || []), (err, ...args) => {
          answers[i] = err ? { error: err.message } : { args };
          if (--left === 0) out({ event: "acks", ref: cmd.ref, answers });
        });
      }
      break;
    }
    case "emit":
      for (const i of targets) clients[i].socket.emit(cmd.name, ...(cmd.args || []));
      break;
    case "pool":
      out({ event: "pool", ...pool });
      break;
    case "state":
      out({
        event: "state",
        clients: clients.map(({ manager, socket }) => ({
          connected: socket.connected,
          transport: manager.engine ? manager.engine.transport.name : null,
          sid: manager.engine ? manager.engine.id : null,
        })),
      });
      break;
    case "exit":
      process.exit(0);
  }
});
