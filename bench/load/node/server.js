// Node's socket.io server with the load benchmark's handlers (see bench/load/servers/).
// usage: node server.js PORT PING_INTERVAL_SECONDS [PING_TIMEOUT_SECONDS]
//   echo: acks its argument back;  bcast: emits "msg" with the argument to every client.
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2]);
const pingInterval = Math.round(Number(process.argv[3] || "25") * 1000);
const pingTimeout = Math.round(Number(process.argv[4] || "20") * 1000);

const httpServer = http.createServer();
const io = new Server(httpServer, { pingInterval, pingTimeout });

io.on("connection", (socket) => {
  socket.on("echo", (arg, ack) => {
    if (typeof ack === "function") ack(arg);
  });
  socket.on("bcast", (arg) => {
    io.emit("msg", arg);
  });
});

httpServer.listen(port, "127.0.0.1", 511, () => {
  process.stdout.write("ready\n");
});
process.on("SIGTERM", () => process.exit(0));
