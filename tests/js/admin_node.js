// The reference for sio.admin: a Node socket.io server instrumented by @socket.io/admin-ui 0.5.1,
// with the application tests/integration/admin_app.py builds for sio (the same handlers).
// usage: node admin_node.js OPTIONS_JSON
//   OPTIONS_JSON: instrument()'s options ({"auth": ..., "mode": ..., "readonly": ...}), and
//   "redis": URL of a Redis that keeps the sessions (0.5.1's RedisStore, on ioredis: the callback
//   API it calls) and joins the servers (@socket.io/redis-adapter on node-redis 4).
// Prints {"event": "listening", "port": N} once it listens on 127.0.0.1, then runs until killed.
"use strict";
const { createServer } = require("http");
const { Server } = require("socket.io");
const { instrument, RedisStore } = require("@socket.io/admin-ui");

const options = JSON.parse(process.argv[2] || "{}");

function setup(io) {
  io.use((socket, next) => {
    socket.data.early = "set by a middleware";
    next();
  });
  io.on("connection", (socket) => {
    socket.on("hello", (name, ack) => {
      if (typeof ack === "function") ack(`hello ${name}`);
      socket.emit("greet", name, { n: 1 });
    });
    socket.on("join", (room) => {
      socket.join(room);
      socket.data.user = "alice";
    });
    socket.on("binary", (payload) => {
      socket.emit("binary", payload);
    });
  });
  io.of("/chat").on("connection", () => {});
  io.of(/^\/dyn-\w+$/).on("connection", () => {});
}

(async () => {
  const httpServer = createServer();
  const io = new Server(httpServer);
  setup(io);
  const instrumentOptions = { ...options };
  delete instrumentOptions.redis;
  if (options.redis) {
    const { createClient } = require("redis");
    const Redis = require("ioredis");
    instrumentOptions.store = new RedisStore(new Redis(options.redis));
    const client = createClient({ url: options.redis });
    await client.connect();
    const { createAdapter } = require("@socket.io/redis-adapter");
    const subClient = client.duplicate();
    await subClient.connect();
    io.adapter(createAdapter(client, subClient));
  }
  instrument(io, instrumentOptions);
  httpServer.listen(0, "127.0.0.1", () => {
    process.stdout.write(JSON.stringify({ event: "listening", port: httpServer.address().port }) + "\n");
  });
})().catch((err) => {
  process.stdout.write(JSON.stringify({ event: "error", message: String(err && err.message) }) + "\n");
  process.exit(1);
});
