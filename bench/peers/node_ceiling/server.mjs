// The Node.js grpc-js ceiling: StreamPrices serving the Python ceiling's frames, nothing else.
//
// `node server.mjs --frames FILE` reads the ring of encoded batches that
// bench/peers/node_ceiling/__init__.py wrote with the Python ceiling's
// encoder (one `PriceBatch.updates` element per ticker and batch), checks
// that it frames them byte for byte as the Python side does, and serves
// every stream the frame of its tickers for the current batch, as fast as
// the transport takes them: it writes until `write()` returns false and
// goes on at 'drain'. The cursor moves to the next batch once per event-loop
// turn in which some stream wrote, as the Python ceiling's feed loop moves
// it once per turn; with every stream waiting for 'drain', nothing runs.

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import * as grpc from "@grpc/grpc-js";

const { values: args } = parseArgs({
  options: {
    frames: { type: "string" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
    "max-seconds": { type: "string", default: "300" },
  },
});
if (!args.frames) {
  console.error("node_ceiling: --frames FILE is required");
  process.exit(2);
}
if (!["127.0.0.1", "localhost", "::1"].includes(args.host)) {
  console.error("node_ceiling: benchmark servers listen on loopback only");
  process.exit(2);
}

const data = JSON.parse(readFileSync(args.frames, "utf8"));
const tickers = data.tickers;
const ring = data.ring.map((batch) => batch.map((element) => Buffer.from(element, "base64")));
const known = new Map(tickers.map((ticker, index) => [ticker, index]));

// SubscribeResponse.prices (field 1, length-delimited) around the joined elements.
function pricesFrame(elements) {
  const frame = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(Buffer.concat(elements));
  return Buffer.from(frame.finish());
}

const check = Buffer.from(data.check, "base64");
if (!pricesFrame(ring[0]).equals(check)) {
  console.error("node_ceiling: frames differ from the Python ceiling's; not serving");
  process.exit(1);
}

function requestedTickers(bytes) {
  const reader = new BinaryReader(bytes);
  const names = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) names.push(reader.string());
    else reader.skip(wireType, field);
  }
  return names;
}

let cursor = 0;
let turnPending = false;
function nextTurn() {
  turnPending = false;
  cursor += 1;
}

function streamPrices(call) {
  const wanted = call.request.filter((t) => known.has(t)).map((t) => known.get(t));
  const frames = ring.map((batch) => pricesFrame(wanted.map((i) => batch[i])));
  let open = true;
  const stop = () => {
    open = false;
  };
  call.on("cancelled", stop);
  call.on("error", stop);
  const write = () => {
    while (open) {
      if (!turnPending) {
        turnPending = true;
        setImmediate(nextTurn);
      }
      if (!call.write(frames[cursor % ring.length])) {
        call.once("drain", write);
        return;
      }
    }
  };
  write();
}

const server = new grpc.Server({ "grpc.max_concurrent_streams": 1000 });
server.addService(
  {
    StreamPrices: {
      path: "/tickwire.v1.MarketData/StreamPrices",
      requestStream: false,
      responseStream: true,
      requestSerialize: (value) => value,
      requestDeserialize: requestedTickers,
      responseSerialize: (frame) => frame,
      responseDeserialize: (bytes) => bytes,
    },
  },
  { StreamPrices: streamPrices },
);
server.bindAsync(
  `${args.host}:${args.port}`,
  grpc.ServerCredentials.createInsecure(),
  (error, port) => {
    if (error) {
      console.error(`node_ceiling: ${error.message}`);
      process.exit(1);
    }
    const host = args.host === "::1" ? "[::1]" : args.host;
    console.log(JSON.stringify({ event: "ready", target: `${host}:${port}`, pid: process.pid }));
  },
);

for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
setTimeout(() => process.exit(0), Number(args["max-seconds"]) * 1000).unref();
