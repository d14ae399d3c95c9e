// How the JavaScript test peers carry values in their JSON lines: binary as {"$bin": "<hex>"},
// both ways, inside arrays and objects; everything else as it is.
"use strict";

function toWire(value) {
  if (Buffer.isBuffer(value) || value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    const bytes = value.buffer ? value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength) : value;
    return { $bin: Buffer.from(bytes).toString("hex") };
  }
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

module.exports = { toWire, fromWire };
