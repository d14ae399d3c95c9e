// A Node socket.io server whose adapter is Node's own ClusterAdapterWithHeartbeat (socket.io-adapter),
// joined to the test's bus over stdio: what it publishes leaves as msgpack (notepack.io, as Node's
// Redis adapters encode) in base64 JSON lines, what the bus carries arrives the same way.
// usage: node cluster_node.js ; then JSON-line commands on stdin, events on stdout.
"use strict";
const { createServer } = require("http");
const { Server } = require("socket.io");
const { ClusterAdapterWithHeartbeat } = require("socket.io-adapter");
const notepack = require("notepack.io");
const readline = require("readline");

function out(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

function toWire(value) {
  if (Buffer.isBuffer(value)) return { $bin: value.toString("hex") };
  if (Array.isArray(value)) return value.map(toWire);
  if (value && typeof value === "object") {
    const copy = {};
    for (const [k, v] of Object.entries(value)) copy[k] = toWire(v);
    return copy;
  }
  return value;
}

function fromWire(value) {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value && typeof value === "object") {
    if (typeof value.$bin === "string") return Buffer.from(value.$bin, "hex");
    const copy = {};
    for (const [k, v] of Object.entries(value)) copy[k] = fromWire(v);
    return copy;
  }
  return value;
}

const adapters = new Set();

class StdioAdapter extends ClusterAdapterWithHeartbeat {
  constructor(nsp) {
    super(nsp, {});
    adapters.add(this);
  }
  doPublish(message) {
    out({ event: "publish", wire: notepack.encode(message).toString("base64") });
    return Promise.resolve("");
  }
  doPublishResponse(requesterUid, response) {
    out({ event: "publish", wire: notepack.encode(response).toString("base64") });
    return Promise.resolve();
  }
}

const httpServer = createServer();
const io = new Server(httpServer, { adapter: StdioAdapter });

io.on("connection", (socket) => {
  out({ event: "connection", id: socket.id });
});
// Server-side events from the other servers of the cluster.
io.on("hello", (...args) => out({ event: "server_side", name: "hello", args: toWire(args) }));
io.on("ping", (cb) => cb("pong from node"));

readline.createInterface({ input: process.stdin }).on("line", async (line) => {
  const cmd = JSON.parse(line);
  const ref = cmd.ref;
  try {
    switch (cmd.cmd) {
      case "message": {
        const message = notepack.decode(Buffer.from(cmd.wire, "base64"));
        for (const adapter of adapters) {
          if (adapter.nsp.name === message.nsp) adapter.onMessage(message);
        }
        break;
      }
      case "emit":
        io.emit(cmd.name, ...fromWire(cmd.args || []));
        out({ event: "done", ref });
        break;
      case "emitWithAck": {
        const responses = await io.timeout(cmd.timeout).emitWithAck(cmd.name, ...fromWire(cmd.args || []));
        out({ event: "done", ref, result: toWire(responses) });
        break;
      }
      case "serverSideEmitWithAck": {
        const responses = await io.serverSideEmitWithAck(cmd.name, ...fromWire(cmd.args || []));
        out({ event: "done", ref, result: toWire(responses) });
        break;
      }
      case "serverSideEmit":
        io.serverSideEmit(cmd.name, ...fromWire(cmd.args || []));
        out({ event: "done", ref });
        break;
      case "fetchSockets": {
        const sockets = await (cmd.room ? io.in(cmd.room) : io).fetchSockets();
        out({
          event: "done",
          ref,
          result: sockets.map((s) => ({ id: s.id, rooms: [...s.rooms], data: s.data, auth: s.handshake.auth })),
        });
        break;
      }
      case "serverCount":
        out({ event: "done", ref, result: await io.of("/").adapter.serverCount() });
        break;
      case "socketsJoin":
        io.in(cmd.target).socketsJoin(cmd.room);
        out({ event: "done", ref });
        break;
      case "disconnectSockets":
        io.in(cmd.target).disconnectSockets();
        out({ event: "done", ref });
        break;
      case "rooms": {
        const socket = io.of("/").sockets.get(cmd.id);
        out({ event: "done", ref, result: socket ? [...socket.rooms] : null });
        break;
      }
      case "exit":
        process.exit(0);
    }
  } catch (err) {
    out({ event: "done", ref, error: err.message });
  }
});

httpServer.listen(0, "127.0.0.1", () => out({ event: "listening", port: httpServer.address().port }));
