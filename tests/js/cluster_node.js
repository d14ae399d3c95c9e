// A Node socket.io server in a cluster, on one of Node's own adapters:
//   node cluster_node.js                   socket.io-adapter's ClusterAdapterWithHeartbeat, joined to the
//                                          test's bus over stdio (msgpack by notepack.io, base64 JSON lines)
//   node cluster_node.js redis URL         @socket.io/redis-adapter's createAdapter on a real Redis
//   node cluster_node.js redis-sharded URL @socket.io/redis-adapter's createShardedAdapter
//   node cluster_node.js redis-sharded-cluster URL   the same on a Redis Cluster (node-redis createCluster)
//   node cluster_node.js redis-streams URL [OPTIONS_JSON]   @socket.io/redis-streams-adapter's createAdapter;
//                                          OPTIONS_JSON: {"adapter": {...its options}, "recovery": {...}}
//                                          (connectionStateRecovery, on when given)
// then JSON-line commands on stdin, events on stdout.
"use strict";
const { toWire, fromWire } = require("./wire");
const { createServer } = require("http");
const { Server } = require("socket.io");
const { ClusterAdapterWithHeartbeat } = require("socket.io-adapter");
const notepack = require("notepack.io");
const readline = require("readline");

function out(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
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

const [mode = "stdio", redisUrl, optionsJson] = process.argv.slice(2);
const nodeOptions = JSON.parse(optionsJson || "{}");
const httpServer = createServer();
const serverOptions = mode === "stdio" ? { adapter: StdioAdapter } : {};
if (nodeOptions.recovery) serverOptions.connectionStateRecovery = nodeOptions.recovery;
const io = new Server(httpServer, serverOptions);
let emitter = null;
let redisClient = null;

async function useRedisStreams() {
  const { createClient } = require("redis");
  const { createAdapter } = require("@socket.io/redis-streams-adapter");
  redisClient = createClient({ url: redisUrl });
  redisClient.on("error", (err) => out({ event: "redis_error", message: String(err.message) }));
  await redisClient.connect();
  io.adapter(createAdapter(redisClient, nodeOptions.adapter || {}));
}

async function useRedis() {
  if (mode === "redis-streams") return useRedisStreams();
  const { createClient } = require("redis");
  const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
  const { Emitter } = require("@socket.io/redis-emitter");
  const onCluster = mode === "redis-sharded-cluster";
  const pubClient = onCluster
    ? require("redis").createCluster({ rootNodes: [{ url: redisUrl }] })
    : createClient({ url: redisUrl });
  const subClient = pubClient.duplicate();
  pubClient.on("error", (err) => out({ event: "redis_error", message: String(err.message) }));
  subClient.on("error", (err) => out({ event: "redis_error", message: String(err.message) }));
  await Promise.all([pubClient.connect(), subClient.connect()]);
  redisClient = pubClient;
  const sharded = mode.startsWith("redis-sharded");
  io.adapter(sharded ? createShardedAdapter(pubClient, subClient) : createAdapter(pubClient, subClient));
  if (!onCluster) emitter = new Emitter(pubClient);
}

io.on("connection", (socket) => {
  out({ event: "connection", id: socket.id, recovered: socket.recovered, rooms: [...socket.rooms], data: toWire(socket.data) });
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack();
  });
  socket.on("set", (key, value, ack) => {
    socket.data[key] = value;
    ack();
  });
  socket.on("disconnect", (reason) => out({ event: "disconnect", id: socket.id, reason }));
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
      case "emit": {
        let target = io;
        if (cmd.room) target = target.to(cmd.room);
        if (cmd.except) target = target.except(cmd.except);
        if (cmd.volatile) target = target.volatile;
        target.emit(cmd.name, ...fromWire(cmd.args || []));
        out({ event: "done", ref });
        break;
      }
      case "socketEmit":
        io.of("/").sockets.get(cmd.id).emit(cmd.name, ...fromWire(cmd.args || []));
        out({ event: "done", ref });
        break;
      case "barrier":
        // Answered once Redis answered a PING sent behind every command written so far
        // (the streams adapter writes on this client, in order).
        await redisClient.ping();
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
      case "socketsLeave":
        io.in(cmd.target).socketsLeave(cmd.room);
        out({ event: "done", ref });
        break;
      case "nspEmit":
        io.of(cmd.nsp).emit(cmd.name, ...fromWire(cmd.args || []));
        out({ event: "done", ref });
        break;
      case "disconnectSockets":
        io.in(cmd.target).disconnectSockets();
        out({ event: "done", ref });
        break;
      case "emitterEmit": {
        let target = emitter.of(cmd.nsp || "/");
        if (cmd.room) target = target.to(cmd.room);
        target.emit(cmd.name, ...fromWire(cmd.args || []));
        out({ event: "done", ref });
        break;
      }
      case "emitterJoin":
        emitter.in(cmd.target).socketsJoin(cmd.room);
        out({ event: "done", ref });
        break;
      case "emitterServerSideEmit":
        emitter.serverSideEmit(cmd.name, ...fromWire(cmd.args || []));
        out({ event: "done", ref });
        break;
      case "joinLocal": {
        const socket = io.of("/").sockets.get(cmd.id);
        socket.join(cmd.room);
        out({ event: "done", ref });
        break;
      }
      case "setData": {
        const socket = io.of("/").sockets.get(cmd.id);
        socket.data = fromWire(cmd.data);
        out({ event: "done", ref });
        break;
      }
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

(mode === "stdio" ? Promise.resolve() : useRedis()).then(
  () => httpServer.listen(0, "127.0.0.1", () => out({ event: "listening", port: httpServer.address().port })),
  (err) => out({ event: "fatal", message: String(err && err.message) }),
);
