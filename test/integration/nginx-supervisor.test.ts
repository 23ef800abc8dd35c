/**
 * NginxSupervisor against the real nginx (/usr/sbin/nginx) on loopback:
 * child mode start/serve, a SIGKILLed master restarted (F4), a master that
 * cannot come back reported DOWN at once and recovered by back-off (F5),
 * adoption after the agent itself is SIGKILLed (F2: nginx keeps serving),
 * and external mode with a start_command.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import { createServer as createTcpServer, type Server } from "node:net";
import { writeFile, chmod } from "node:fs/promises";
import { join } from "node:path";
import { createCommandRunner, type RunningProcess } from "../../shared/exec/runner.js";
import { NginxSupervisor } from "../../agent/nginx/supervisor.js";
import type { NginxStatus } from "../../agent/nginx/restart-policy.js";
import { isLive, isNginxMaster, readPidFile } from "../../agent/nginx/process.js";
import { freePort, httpGet, NginxLab, servedBy } from "./nginx-harness.js";
import { waitFor } from "../support/wait.js";

const runner = createCommandRunner();

/** A logger that keeps each event key with the moment it was logged (to time stderr lines against states). */
const logged: Array<{ event: string; at: number; line?: string }> = [];
const log = pino(
  { level: "info" },
  { write: (s: string) => void logged.push({ ...(JSON.parse(s) as { event: string; line?: string }), at: performance.now() }) },
);

/** Records every state with a timestamp, and every master pid into the lab. */
function watch(sup: NginxSupervisor, lab: NginxLab): Array<NginxStatus & { at: number }> {
  const seen: Array<NginxStatus & { at: number }> = [];
  sup.onState((_state, _detail, s) => {
    seen.push({ ...s, at: performance.now() });
    lab.track(s.pid);
  });
  return seen;
}

/** Fires a request every 10 ms until stopped; the longest run of failures in ms is the blip. */
function prober(port: number) {
  let stop = false;
  let failedSince: number | undefined;
  let longest = 0;
  let failures = 0;
  const done = (async () => {
    for (let i = 0; i < 3000 && !stop; i++) {
      const t = performance.now();
      const ok = servedBy(await httpGet(port, "/aaa", 300)) !== undefined;
      if (!ok) {
        failures++;
        failedSince ??= t;
      } else if (failedSince !== undefined) {
        longest = Math.max(longest, performance.now() - failedSince);
        failedSince = undefined;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    async end() {
      stop = true;
      await done;
      return { longestBlipMs: Math.round(longest), failures, stillFailing: failedSince !== undefined };
    },
  };
}

describe("nginx supervisor, child mode", () => {
  let lab: NginxLab;
  const supervisors: NginxSupervisor[] = [];
  const agents: RunningProcess[] = [];
  let blocker: Server | undefined;

  before(async () => {
    lab = await NginxLab.create(1);
  });
  after(async () => {
    for (const a of agents) a.kill("SIGKILL");
    for (const s of supervisors) await s.stop().catch(() => undefined);
    await new Promise<void>((r) => (blocker ? blocker.close(() => r()) : r()));
    await lab.close();
  });

  test("starts nginx detached, serves, and restarts a SIGKILLed master within the blip budget", async () => {
    const sup = new NginxSupervisor({ config: lab.nginxConfig(), runner, log });
    supervisors.push(sup);
    const seen = watch(sup, lab);
    const first = await sup.start();
    assert.equal(first.state, "running", first.detail);
    const pid = sup.masterPid();
    assert.ok(pid && (await isNginxMaster(pid)));
    assert.equal(await readPidFile(lab.pidFile), pid);
    assert.equal(await waitFor(async () => servedBy(await httpGet(lab.listenPort)), { what: "first answer", timeoutMs: 5000 }), "backend-a");

    const probe = prober(lab.listenPort);
    await new Promise((r) => setTimeout(r, 50));
    const killedAt = performance.now();
    process.kill(pid, "SIGKILL");
    await waitFor(() => sup.state().state === "running" && sup.masterPid() !== pid, { what: "a new master", timeoutMs: 3000 });
    const restartMs = Math.round(performance.now() - killedAt);
    await waitFor(async () => servedBy(await httpGet(lab.listenPort)), { what: "answers again", timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 50));
    const blip = await probe.end();
    console.log(`# F4 child mode: SIGKILL → running again in ${restartMs} ms; client blip ${blip.longestBlipMs} ms (${blip.failures} failed requests)`);
    assert.ok(!seen.some((s) => s.state === "down"), "a restartable death must never report DOWN");
    assert.ok(seen.some((s) => s.state === "starting"));
    assert.ok(restartMs < 300, `restart took ${restartMs} ms`);
    assert.ok(blip.longestBlipMs <= 300, `blip ${blip.longestBlipMs} ms`);
    assert.equal(blip.stillFailing, false);
  });

  test("a restart that cannot bind reports DOWN at once, then back-off brings nginx back", async () => {
    const sup = supervisors[0];
    const seen = watch(sup, lab);
    // Something else takes a second port; the conf now needs it too.
    const busyPort = await freePort();
    blocker = createTcpServer();
    await new Promise<void>((r) => blocker!.listen(busyPort, "127.0.0.1", r));
    await lab.writeConf(`    server { listen 127.0.0.1:${busyPort}; return 204; }`);
    const pid = sup.masterPid()!;
    const killedAt = performance.now();
    process.kill(pid, "SIGKILL");
    const down = await waitFor(() => seen.find((s) => s.state === "down"), { what: "DOWN", timeoutMs: 3000 });
    const starting = seen.find((s) => s.state === "starting")!;
    const emerg = logged.find((l) => l.event === "nginx.stderr" && l.at > killedAt && /\[emerg\]/.test(l.line ?? ""))!;
    console.log(
      `# F5 child mode: SIGKILL → STARTING ${Math.round(starting.at - killedAt)} ms → nginx's [emerg] ${Math.round(emerg.at - starting.at)} ms later → DOWN ${(down.at - emerg.at).toFixed(2)} ms after that (total ${Math.round(down.at - killedAt)} ms): ${down.detail}`,
    );
    assert.ok(down.at - emerg.at < 20, "DOWN follows the failed restart within milliseconds");
    assert.match(down.detail, /bind\(\) to 127\.0\.0\.1:\d+ failed \(98: Address already in use\)/);
    assert.ok(down.at - killedAt < 500, `DOWN after ${Math.round(down.at - killedAt)} ms`);

    // Still failing while the port is taken: retries keep DOWN and count failures.
    await waitFor(() => sup.state().failures >= 2, { what: "a background retry", timeoutMs: 3000 });
    assert.equal(sup.state().state, "down");
    const freedAt = performance.now();
    await new Promise<void>((r) => blocker!.close(() => r()));
    blocker = undefined;
    await waitFor(() => sup.state().state === "running", { what: "running again via back-off", timeoutMs: 5000 });
    console.log(`# F5 recovery: port freed → running in ${Math.round(performance.now() - freedAt)} ms (back-off 50..400 ms)`);
    assert.equal(await waitFor(async () => servedBy(await httpGet(lab.listenPort)), { what: "answers", timeoutMs: 5000 }), "backend-a");
    await lab.writeConf();
    assert.ok((await sup.reload()).ok);
  });

  test("a broken config makes the restart fail with nginx's own error line", async () => {
    const sup = supervisors[0];
    const seen = watch(sup, lab);
    await lab.writeConf("", "bogus_directive on;");
    const t = await sup.test();
    assert.equal(t.ok, false);
    assert.match(t.detail, /unknown directive "bogus_directive"/);
    process.kill(sup.masterPid()!, "SIGKILL");
    const down = await waitFor(() => seen.find((s) => s.state === "down"), { what: "DOWN", timeoutMs: 3000 });
    assert.match(down.detail, /unknown directive "bogus_directive"/);
    await lab.writeConf();
    await waitFor(() => sup.state().state === "running", { what: "running again", timeoutMs: 5000 });
  });

  test("nginx outlives a SIGKILLed agent, and the next agent adopts it instead of starting another", async () => {
    // The first supervisor lets go (as if the agent were gone) and a real agent-like process takes over.
    const old = supervisors[0];
    const oldPid = old.masterPid()!;
    await old.stop();
    assert.equal(await isLive(oldPid), false);
    const script = join(lab.dir, "agent.mts");
    await writeFile(
      script,
      `
import { NginxSupervisor } from ${JSON.stringify(new URL("../../agent/nginx/supervisor.js", import.meta.url).pathname)};
import { createCommandRunner } from ${JSON.stringify(new URL("../../shared/exec/runner.js", import.meta.url).pathname)};
const sup = new NginxSupervisor({ config: ${JSON.stringify(lab.nginxConfig())}, runner: createCommandRunner() });
const s = await sup.start();
console.log("MASTER " + s.pid);
setInterval(() => undefined, 1000);
`,
    );
    let pidLine = "";
    const agent = runner.start([process.execPath, "--import", "tsx", script], { cwd: process.cwd(), onStdoutLine: (l) => (pidLine = l) });
    agents.push(agent);
    const masterPid = Number((await waitFor(() => /^MASTER (\d+)$/.exec(pidLine), { what: "agent output", timeoutMs: 15_000 }))[1]);
    lab.track(masterPid);
    assert.equal(await waitFor(async () => servedBy(await httpGet(lab.listenPort)), { what: "served via agent's nginx", timeoutMs: 5000 }), "backend-a");

    agent.kill("SIGKILL");
    await agent.exited;
    const probe = prober(lab.listenPort);
    await new Promise((r) => setTimeout(r, 200));
    const blip = await probe.end();
    assert.equal(blip.failures, 0, "nginx must keep serving after the agent is SIGKILLed");
    assert.ok(await isNginxMaster(masterPid));

    const next = new NginxSupervisor({ config: lab.nginxConfig(), runner });
    supervisors.push(next);
    const seen = watch(next, lab);
    const s = await next.start();
    assert.equal(s.state, "running");
    assert.equal(s.pid, masterPid, "adopted, not restarted");
    assert.match(s.detail, /adopted/);

    // An adopted master is watched by polling its pid; its death is still restarted.
    const probe2 = prober(lab.listenPort);
    await new Promise((r) => setTimeout(r, 30));
    const killedAt = performance.now();
    process.kill(masterPid, "SIGKILL");
    await waitFor(() => next.state().state === "running" && next.masterPid() !== masterPid, { what: "restarted after adoption", timeoutMs: 3000 });
    const restartMs = Math.round(performance.now() - killedAt);
    await new Promise((r) => setTimeout(r, 50));
    const blip2 = await probe2.end();
    console.log(`# adopted master SIGKILLed → running again in ${restartMs} ms (poll 100 ms); client blip ${blip2.longestBlipMs} ms`);
    assert.ok(!seen.some((x) => x.state === "down"));
    assert.ok(blip2.longestBlipMs <= 300, `blip ${blip2.longestBlipMs} ms`);
  });

  test("stop() ends the master gracefully and reports stopped", async () => {
    const sup = supervisors.at(-1)!;
    const pid = sup.masterPid()!;
    await sup.stop();
    assert.equal(sup.state().state, "stopped");
    assert.equal(await isLive(pid), false);
    assert.ok((await httpGet(lab.listenPort)) instanceof Error);
  });
});

describe("nginx supervisor, external mode", () => {
  let lab: NginxLab;
  let sup: NginxSupervisor | undefined;

  before(async () => {
    lab = await NginxLab.create(1);
  });
  after(async () => {
    await sup?.stop().catch(() => undefined);
    await lab.close();
  });

  test("watches the master from the pid file and runs start_command when it is gone", async () => {
    // Stands in for `systemctl start nginx`: nginx daemonizes and writes the pid file.
    const start = join(lab.dir, "start-nginx.sh");
    await writeFile(start, `#!/bin/sh\nexec /usr/sbin/nginx -p ${lab.dir} -c ${lab.conf} -g "pid ${lab.pidFile};"\n`);
    await chmod(start, 0o755);
    const config = lab.nginxConfig({
      mode: "external",
      start_command: [start],
      test_command: ["/usr/sbin/nginx", "-t", "-q", "-p", lab.dir, "-c", lab.conf, "-g", `pid ${lab.pidFile};`],
    });
    sup = new NginxSupervisor({ config, runner });
    const seen = watch(sup, lab);
    const s = await sup.start();
    assert.equal(s.state, "running", s.detail);
    const pid = s.pid!;
    lab.track(pid);
    assert.equal(await readPidFile(lab.pidFile), pid);
    assert.equal(await waitFor(async () => servedBy(await httpGet(lab.listenPort)), { what: "answer", timeoutMs: 5000 }), "backend-a");
    assert.ok((await sup.test()).ok);
    assert.ok((await sup.reload()).ok);

    // systemd would clean the unit's cgroup after a crash; a TERM ends master and workers together.
    const killedAt = performance.now();
    process.kill(pid, "SIGTERM");
    await waitFor(() => sup!.state().state === "running" && sup!.masterPid() !== pid, { what: "a new master from start_command", timeoutMs: 3000 });
    console.log(`# external mode: master ended → running again in ${Math.round(performance.now() - killedAt)} ms (watch_interval 100 ms)`);
    lab.track(sup.masterPid());
    assert.ok(!seen.some((x) => x.state === "down"));
    assert.equal(await waitFor(async () => servedBy(await httpGet(lab.listenPort)), { what: "answers again", timeoutMs: 5000 }), "backend-a");

    // A start_command that fails is DOWN at once, with its error.
    await lab.writeConf("", "bogus_directive on;");
    process.kill(sup.masterPid()!, "SIGTERM");
    const down = await waitFor(() => seen.find((x) => x.state === "down"), { what: "DOWN", timeoutMs: 3000 });
    assert.match(down.detail, /start_command failed: .*unknown directive "bogus_directive"/);
    await lab.writeConf();
    await waitFor(() => sup!.state().state === "running", { what: "running after the fix", timeoutMs: 5000 });
    const last = sup.masterPid()!;
    lab.track(last);

    // Stopping the agent in external mode leaves systemd's nginx alone.
    await sup.stop();
    assert.equal(sup.state().state, "stopped");
    assert.ok(await isNginxMaster(last), "external nginx keeps running when the agent stops");
  });
});
