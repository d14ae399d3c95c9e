// Node's socket.io server with the load benchmark's handlers (see bench/load/servers/).
// usage: node server.js PORT PING_INTERVAL_SECONDS [PING_TIMEOUT_SECONDS]
//   echo: acks its argument back;  bcast: emits "msg" with the argument to every client.
// With BENCH_REDIS_URL set (the cluster scenarios): one node of a cluster on @socket.io/redis-adapter,
// BENCH_REDIS_ADAPTER "classic" (createAdapter) or "sharded" (createShardedAdapter), node-redis clients.
// With BENCH_RECOVERY set, connectionStateRecovery is on (its defaults); with BENCH_PARSER=msgpack,
// the socket.io-msgpack-parser parser. BENCH_DEFLATE "1": perMessageDeflate true (ws, threshold 1024);
// "nct": the same with serverNoContextTakeover and clientNoContextTakeover. BENCH_HTTP_COMPRESSION=0:
// httpCompression false (it is on by default).
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2]);
const pingInterval = Math.round(Number(process.argv[3] || "25") * 1000);
const pingTimeout = Math.round(Number(process.argv[4] || "20") * 1000);

const httpServer = http.createServer();
const options = { pingInterval, pingTimeout };
if (process.env.BENCH_RECOVERY) options.connectionStateRecovery = {};
if (process.env.BENCH_PARSER === "msgpack") options.parser = require("socket.io-msgpack-parser");
if (process.env.BENCH_DEFLATE === "nct") {
  options.perMessageDeflate = { threshold: 1024, serverNoContextTakeover: true, clientNoContextTakeover: true };
} else if (process.env.BENCH_DEFLATE) {
  options.perMessageDeflate = true;
}
if (process.env.BENCH_HTTP_COMPRESSION === "0") options.httpCompression = false;
const io = new Server(httpServer, options);

io.on("connection", (socket) => {
  socket.on("echo", (arg, ack) => {
    if (typeof ack === "function") ack(arg);
  });
  socket.on("bcast", (arg) => {
    io.emit("msg", arg);
  });
});

async function useRedis(url) {
  const { createClient } = require("redis");
  const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
  const pubClient = createClient({ url });
  const subClient = pubClient.duplicate();
  await Promise.all([pubClient.connect(), subClient.connect()]);
  const sharded = process.env.BENCH_REDIS_ADAPTER === "sharded";
  io.adapter(sharded ? createShardedAdapter(pubClient, subClient) : createAdapter(pubClient, subClient));
}

(process.env.BENCH_REDIS_URL ? useRedis(process.env.BENCH_REDIS_URL) : Promise.resolve()).then(() => {
  httpServer.listen(port, "127.0.0.1", 511, () => {
    process.stdout.write("ready\n");
  });
});
process.on("SIGTERM", () => process.exit(0));
