/**
 * Runs inside a lab namespace (started by NsWorker): the probes that need node
 * sockets there. Reads JSON lines on stdin, answers `{id, result}` or
 * `{id, error}` on stdout, and reports reach changes as `{event: "reach", ...}`.
 * Ops: verify, probe, listen, unlisten, reach-start, reach-stop.
 */
import { createServer, type Server, type Socket } from "node:net";
import { createInterface } from "node:readline";
import { createCommandRunner } from "../../../shared/exec/runner.js";
import { probeService, type ServiceProbeOptions } from "../../../agent/probe/service.js";
import { ReachProber, type ReachOptions } from "../../../agent/probe/reach.js";
import { arpingProber, verifyVip, type VerifyRequest } from "../../../agent/probe/verify.js";

const runner = createCommandRunner();
let server: Server | undefined;
const sockets = new Set<Socket>();
let reach: ReachProber | undefined;

function send(msg: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

async function handle(msg: Record<string, unknown>): Promise<unknown> {
  switch (msg.op) {
    case "verify":
      return verifyVip(msg.req as VerifyRequest, { arp: arpingProber(runner, msg.arping as string) });
    case "probe":
      return probeService(msg.opts as ServiceProbeOptions);
    case "listen": {
      server = createServer((s) => {
        sockets.add(s);
        s.on("close", () => sockets.delete(s));
        s.on("error", () => undefined);
        s.end("hello\n");
      });
      await new Promise<void>((resolve, reject) => {
        server!.once("error", reject);
        server!.listen(msg.port as number, msg.host as string, resolve);
      });
      return "listening";
    }
    case "unlisten": {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
      server = undefined;
      return "closed";
    }
    case "reach-start": {
      reach?.stop();
      reach = new ReachProber({ ...(msg.opts as Omit<ReachOptions, "onChange">), onChange: (state) => send({ event: "reach", state, atMs: Date.now() }) });
      reach.start();
      return "started";
    }
    case "reach-stop":
      reach?.stop();
      reach = undefined;
      return "stopped";
    default:
      throw new Error(`unknown op ${String(msg.op)}`);
  }
}

createInterface({ input: process.stdin })
  .on("line", (line) => {
    const msg = JSON.parse(line) as Record<string, unknown>;
    handle(msg).then(
      (result) => send({ id: msg.id, result }),
      (err: unknown) => send({ id: msg.id, error: String(err) }),
    );
  })
  .on("close", () => process.exit(0));

process.on("SIGTERM", () => {
  reach?.stop();
  server?.close();
  process.exit(0);
});
