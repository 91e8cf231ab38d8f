// A Firestore emulator for the tests, on loopback only.
//
//   node server.js [port]      (or FIRESTORE_EMULATOR_PORT; 0 = any free port)
//
// Prints "listening on 127.0.0.1:<port>" once it accepts connections, and stops when its
// standard input closes, so a killed test run leaves no emulator behind.
"use strict";

const {
  FirestoreServer,
  FirestoreStateDocument,
} = require("@firestore-emulator/server");

const HOST = "127.0.0.1";
const port = Number(process.argv[2] ?? process.env.FIRESTORE_EMULATOR_PORT ?? 0);

// @firestore-emulator/server 0.3.x has no notion of the document key `__name__`: a filter or an
// order on it matches nothing. Real Firestore pages by key range on it, so teach it here: the key
// compares with another key or a reference value (the SDK sends the bound as a reference) by path
// segments, as Firestore orders document keys.
function compareKeys(a, b) {
  const left = a.split("/");
  const right = b.split("/");
  for (let i = 0; i < Math.min(left.length, right.length); i += 1) {
    if (left[i] !== right[i]) return left[i] < right[i] ? -1 : 1;
  }
  return left.length - right.length;
}

class DocumentKey {
  constructor(value) {
    this.type = "reference_value";
    this.value = value;
  }
  compare(other) {
    return other && other.type === "reference_value" ? compareKeys(this.value, other.value) : NaN;
  }
  eq(other) {
    return this.compare(other) === 0;
  }
  lt(other) {
    return this.compare(other) < 0;
  }
  lte(other) {
    return this.compare(other) <= 0;
  }
  gt(other) {
    return this.compare(other) > 0;
  }
  gte(other) {
    return this.compare(other) >= 0;
  }
  toJSON() {
    return { type: this.type, value: this.value };
  }
  toV1ValueObject() {
    return { reference_value: this.value };
  }
}

const getField = FirestoreStateDocument.prototype.getField;
FirestoreStateDocument.prototype.getField = function (path) {
  return path === "__name__" ? new DocumentKey(this.getPath()) : getField.call(this, path);
};

async function main() {
  const emulator = new FirestoreServer();
  // start() binds 0.0.0.0; keep it on loopback and learn the port when 0 was asked for.
  const grpcServer = emulator.server;
  const bind = grpcServer.bindAsync.bind(grpcServer);
  let bound = port;
  grpcServer.bindAsync = (_address, credentials, callback) =>
    bind(`${HOST}:${port}`, credentials, (error, actual) => {
      bound = actual;
      callback(error, actual);
    });
  await emulator.start(port);
  console.log(`listening on ${HOST}:${bound}`);

  const stop = () => {
    emulator.stop();
    process.exit(0);
  };
  process.stdin.on("end", stop);
  process.stdin.on("error", stop);
  process.stdin.resume();
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((error) => {
  console.error(`firestore emulator failed to start: ${error.message}`);
  process.exit(1);
});
