// The floor of any gRPC path in Node.js: BYTES moved over HTTP/2 on a unix
// socket between two Node processes, with nothing done to them (no gRPC
// framing, no disk, no hashing). `node http2_floor.ts up|down BYTES` starts
// a server process, moves the bytes to it (up) or from it (down) in one
// stream with the daemon's window sizes, and exits; the daemon benchmarks
// run it as a side so that their table shows how far stratad is from it.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import http2 from "node:http2";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const STREAM_WINDOW = 4 << 20;
const CONNECTION_WINDOW = 16 << 20;
const CHUNK = 1 << 20;

function serve(socket: string, bytes: number): void {
  const server = http2.createServer({ settings: { initialWindowSize: STREAM_WINDOW } });
  server.on("session", (s) => s.setLocalWindowSize(CONNECTION_WINDOW));
  server.on("stream", (stream, headers) => {
    if (headers[":path"] === "/up") {
      let n = 0;
      stream.on("data", (d: Buffer) => {
        n += d.byteLength;
      });
      stream.on("end", () => {
        stream.respond({ ":status": 200 });
        stream.end(String(n));
      });
      return;
    }
    stream.respond({ ":status": 200 });
    const chunk = Buffer.alloc(CHUNK, 7);
    let left = bytes;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(CHUNK, left);
        left -= n;
        if (!stream.write(chunk.subarray(0, n))) {
          stream.once("drain", pump);
          return;
        }
      }
      stream.end();
    };
    pump();
  });
  server.listen(socket, () => process.stdout.write("ready\n"));
}

async function transfer(direction: string, bytes: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "strata-http2-floor-"));
  const socket = join(dir, "s.sock");
  const server = spawn(process.execPath, [import.meta.filename, "serve", socket, String(bytes)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  try {
    await once(server.stdout, "data");
    const session = http2.connect("http://localhost", {
      settings: { initialWindowSize: STREAM_WINDOW },
      createConnection: () => connect(socket),
    });
    await once(session, "connect");
    session.setLocalWindowSize(CONNECTION_WINDOW);
    const req = session.request({
      ":method": direction === "up" ? "POST" : "GET",
      ":path": `/${direction}`,
    });
    let received = 0;
    req.on("data", (d: Buffer) => {
      received += d.byteLength;
    });
    if (direction === "up") {
      const chunk = Buffer.alloc(CHUNK, 7);
      for (let left = bytes; left > 0; left -= CHUNK) {
        if (!req.write(chunk.subarray(0, Math.min(CHUNK, left)))) await once(req, "drain");
      }
    }
    req.end();
    await once(req, "end");
    await new Promise<void>((resolve) => session.close(() => resolve()));
    if (direction === "down" && received !== bytes) {
      throw new Error(`received ${received} bytes of ${bytes}`);
    }
  } finally {
    server.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

const [mode, a, b] = process.argv.slice(2);
if (mode === "serve") serve(a as string, Number(b));
else if (mode === "up" || mode === "down") await transfer(mode, Number(a));
else {
  process.stderr.write("usage: node http2_floor.ts up|down BYTES\n");
  process.exit(2);
}
