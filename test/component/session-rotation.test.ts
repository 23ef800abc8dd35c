/**
 * The agent's side of a certificate renewal, over real gRPC with mutual TLS on
 * loopback: a stand-in coordinator that records the client certificate of each
 * session, and the real CoordinatorSession with channelsFor over reloadable
 * files. A reload keeps the open session (no new hello); the next session the
 * agent opens shows the new certificate.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server, ServerCredentials, type ServerDuplexStream } from "@grpc/grpc-js";
import { agentSpec, issue } from "../../cli/certs.js";
import { CoordinatorSession, channelsFor } from "../../agent/session/client.js";
import type { AgentConfig } from "../../shared/config/agent.js";
import { createCommandRunner } from "../../shared/exec/runner.js";
import { AgentService, type AgentMessage, type CoordinatorMessage } from "../../shared/gen/keepvip/v1/agent.js";
import { silentLogger } from "../../shared/log.js";
import { ReloadableTls } from "../../shared/tls-material.js";
import { makePki, type Pki } from "../support/pki.js";
import { waitFor } from "../support/wait.js";

const root = mkdtempSync(join(tmpdir(), "keepvip-session-rotation-"));
let pki: Pki;
before(async () => {
  pki = await makePki(root);
});
after(() => rmSync(root, { recursive: true, force: true }));

test("a renewed agent certificate: the open session stays; the next session shows the new certificate", async () => {
  // The stand-in coordinator: welcomes every hello, remembers each session's client certificate.
  const sessions: Array<{ fingerprint: string; call: ServerDuplexStream<AgentMessage, CoordinatorMessage> }> = [];
  const server = new Server();
  server.addService(AgentService, {
    session(call: ServerDuplexStream<AgentMessage, CoordinatorMessage>) {
      call.on("data", (m: AgentMessage) => {
        if (m.body?.$case !== "hello") return;
        sessions.push({ fingerprint: call.getAuthContext().sslPeerCertificate?.fingerprint256 ?? "", call });
        const welcome = {
          sessionId: `s${sessions.length}`,
          heartbeatIntervalMs: 1000,
          deadIntervalMs: 3000,
          reachIntervalMs: 100,
          verifyTimeoutMs: 150,
          reachFall: 3,
          term: 0,
          groups: [],
        };
        call.write({ body: { $case: "welcome", value: welcome } });
      });
      call.on("error", () => undefined);
      call.on("end", () => call.end());
    },
  });
  const creds = ServerCredentials.createSsl(
    readFileSync(pki.file("ca", "crt")),
    [{ cert_chain: readFileSync(pki.file("coordinator", "crt")), private_key: readFileSync(pki.file("coordinator", "key")) }],
    true,
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", creds, (err, p) => (err ? reject(err) : resolve(p))));

  // The agent's files, in a directory of their own, as /etc/keepvip/pki holds them.
  const paths = { ca: join(root, "agent-ca.crt"), cert: join(root, "agent.crt"), key: join(root, "agent.key") };
  copyFileSync(pki.file("ca", "crt"), paths.ca);
  copyFileSync(pki.file("agent-lb1", "crt"), paths.cert);
  copyFileSync(pki.file("agent-lb1", "key"), paths.key);
  const files = new ReloadableTls(paths, silentLogger);
  const connections: boolean[] = [];
  const session = new CoordinatorSession(
    `127.0.0.1:${port}`,
    channelsFor({ tls: paths, insecure: false } as AgentConfig, files),
    {
      hello: () => ({ nodeId: "lb1", agentVersion: "test", instanceId: "i1", state: undefined, epochs: [], term: 0, countsCommands: false }),
      message: () => undefined,
      connection: (up) => void connections.push(up),
    },
    silentLogger,
  );
  files.onChange(() => session.refreshChannels());
  session.start();
  try {
    await waitFor(() => session.connected, { what: "welcomed", timeoutMs: 5000 });
    const old = new X509Certificate(readFileSync(paths.cert)).fingerprint256;
    assert.equal(sessions[0]?.fingerprint, old);

    // A renewal: the same identity, a new key and certificate, then the reload.
    const fresh = join(root, "fresh");
    mkdirSync(fresh, { recursive: true });
    copyFileSync(pki.file("ca", "crt"), join(fresh, "ca.crt"));
    copyFileSync(join(pki.dir, "ca.key"), join(fresh, "ca.key"));
    await issue(createCommandRunner(), fresh, agentSpec("lb1"));
    copyFileSync(join(fresh, "agent-lb1.key"), paths.key);
    copyFileSync(join(fresh, "agent-lb1.crt"), paths.cert);
    const renewed = new X509Certificate(readFileSync(paths.cert)).fingerprint256;
    assert.notEqual(renewed, old);
    assert.equal(files.reload("SIGHUP").ok, true);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(sessions.length, 1, "the open session was kept: no second hello");
    assert.deepEqual(connections, [true], "never disconnected by the reload");

    // The coordinator ends the stream (a restart, a leader change): the next session shows the new certificate.
    sessions[0].call.end();
    await waitFor(() => sessions.length === 2 && session.connected, { what: "a second session", timeoutMs: 10_000 });
    assert.equal(sessions[1].fingerprint, renewed, "the new session uses the renewed certificate");
  } finally {
    session.stop();
    server.forceShutdown();
  }
});
