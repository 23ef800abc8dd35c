/**
 * UpstreamApplier with the real nginx: pushes are rendered, tested with
 * `nginx -t` in place, reloaded, and served; pushes nginx rejects never reach
 * the running nginx and the last good file stays. The golden files all pass
 * `nginx -t` too.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createCommandRunner } from "../../shared/exec/runner.js";
import { UpstreamApplier, type ApplyResult } from "../../agent/nginx/apply.js";
import { NginxSupervisor } from "../../agent/nginx/supervisor.js";
import { liveGroupMembers, processTitle } from "../../agent/nginx/process.js";
import type { UpstreamConfig } from "../../shared/gen/keepvip/v1/agent.js";
import { GOLDEN_CASES, server, upstream } from "../fixtures/nginx/cases.js";
import { httpGet, NginxLab, NGINX_BINARY, servedBy, type Backend } from "./nginx-harness.js";
import { waitFor } from "../support/wait.js";

const runner = createCommandRunner();

/** The master's workers as "pid title" (an old generation still serving says "is shutting down"). */
async function workers(master: number | undefined): Promise<string[]> {
  if (master === undefined) return [];
  const members = liveGroupMembers(master).filter((m) => m.pid !== master);
  return Promise.all(members.map(async (m) => `${m.pid} ${await processTitle(m.pid)}`));
}

/**
 * waitFor, with the workers and the tail of nginx's error log (notice level: signals,
 * reloads, workers started and exiting) in the message when it times out.
 */
async function waitServing(lab: NginxLab, master: number | undefined, condition: () => Promise<boolean>, what: string): Promise<void> {
  try {
    await waitFor(condition, { what, timeoutMs: 5000, intervalMs: 20 });
  } catch (err) {
    const log = await readFile(join(lab.dir, "logs", "error.log"), "utf8").catch((e: Error) => `(no error log: ${e.message})`);
    throw new Error(
      `${(err as Error).message}; last samples: ${lastSamples}; workers: ${(await workers(master)).join(", ")}; nginx error log tail:\n${log.split("\n").slice(-40).join("\n")}`,
    );
  }
}
let lastSamples = "";

/** After a reload: one generation of workers is left, none shutting down. */
async function oneGeneration(master: number | undefined): Promise<boolean> {
  const titles = await workers(master);
  return titles.length === 1 && !titles[0].includes("shutting down");
}

/** Who served `count` fresh requests. */
async function sample(port: number, count = 20): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const who = servedBy(await httpGet(port)) ?? "error";
    seen.set(who, (seen.get(who) ?? 0) + 1);
  }
  lastSamples = JSON.stringify(Object.fromEntries(seen));
  return seen;
}

describe("upstream apply against the real nginx", () => {
  let lab: NginxLab;
  let sup: NginxSupervisor;
  let applier: UpstreamApplier;
  let a: Backend;
  let b: Backend;

  const push = (version: number, servers: Parameters<typeof server>[], extra: UpstreamConfig["upstreams"] = []): Promise<ApplyResult> =>
    applier.apply({
      version,
      upstreams: [
        upstream(
          "app",
          servers.map((s) => server(...s)),
        ),
        ...extra,
      ],
    });

  before(async () => {
    lab = await NginxLab.create(2);
    [a, b] = lab.backends;
    // An upstream the main conf defines itself: a push may not define it again.
    await lab.writeConf(`    upstream static_pool { server ${a.address}; }`);
    sup = new NginxSupervisor({ config: lab.nginxConfig(), runner });
    sup.onState((_state, _detail, s) => lab.track(s.pid));
    assert.equal((await sup.start()).state, "running");
    applier = new UpstreamApplier({ path: lab.upstreamFile, control: sup });
    assert.equal(await applier.recover(), false);
  });
  after(async () => {
    await sup?.stop().catch(() => undefined);
    await lab.close();
  });

  test("a valid push is tested, reloaded, and nginx serves the new servers", async () => {
    assert.deepEqual([...(await sample(lab.listenPort, 5)).keys()], ["backend-a"]);
    const pid = sup.masterPid();
    const r1 = await push(1, [
      [a.address, { down: true }],
      [b.address, { maxFails: 3, failTimeoutS: 30 }],
    ]);
    assert.equal(r1.ok, true, r1.error);
    await waitServing(
      lab,
      sup.masterPid(),
      async () => {
        if (!(await oneGeneration(sup.masterPid()))) return false;
        const s = await sample(lab.listenPort, 6);
        return s.size === 1 && s.has("backend-b");
      },
      "only backend-b answers, the old workers gone",
    );

    // max_fails=0: nginx never benches a server, so one slow answer on a loaded machine cannot
    // hide a backend for fail_timeout and every later sample still sees both.
    const r2 = await push(2, [
      [a.address, { weight: 1, maxFails: 0 }],
      [b.address, { weight: 1, maxFails: 0 }],
    ]);
    assert.equal(r2.ok, true, r2.error);
    await waitServing(
      lab,
      sup.masterPid(),
      async () => {
        if (!(await oneGeneration(sup.masterPid()))) return false;
        const s = await sample(lab.listenPort, 10);
        return s.has("backend-a") && s.has("backend-b") && !s.has("error");
      },
      "both backends answer, the old workers gone",
    );
    assert.equal(sup.masterPid(), pid, "a reload, not a restart");
    assert.deepEqual(applier.status(), { appliedVersion: 2, error: "" });
  });

  test("a push that passes the renderer but fails nginx -t never reaches nginx; the last good file stays", async () => {
    const good = await readFile(lab.upstreamFile, "utf8");
    const pid = sup.masterPid();
    // Grammar-valid, but nginx knows no such variable.
    const r3 = await applier.apply({ version: 3, upstreams: [upstream("app", [server(b.address)], { balance: "hash", hashKey: "$no_such_variable" })] });
    assert.equal(r3.ok, false);
    assert.match(r3.error, /nginx -t failed: .*unknown "no_such_variable" variable/);
    assert.equal(await readFile(lab.upstreamFile, "utf8"), good);

    // Grammar-valid, but the main conf already has an upstream of that name.
    const r4 = await push(4, [[b.address]], [upstream("static_pool", [server(b.address)])]);
    assert.equal(r4.ok, false);
    assert.match(r4.error, /duplicate upstream "static_pool"/);
    assert.equal(await readFile(lab.upstreamFile, "utf8"), good);

    assert.equal(sup.masterPid(), pid);
    assert.equal(sup.state().state, "running");
    // Version 2 (both backends) is still what nginx runs: both answer again, nothing errs
    // (one sample is a snapshot: a slow backend under load is retried on the other).
    await waitServing(
      lab,
      sup.masterPid(),
      async () => {
        const s = await sample(lab.listenPort, 10);
        return s.has("backend-a") && s.has("backend-b") && !s.has("error");
      },
      "still serving version 2 (both backends)",
    );
    assert.deepEqual(applier.status(), { appliedVersion: 2, error: r4.error });
    assert.ok((await sup.test()).ok, "what is on disk passes nginx -t");
  });

  test("the next good push after a rejected one is applied", async () => {
    const r5 = await push(5, [[a.address]]);
    assert.equal(r5.ok, true, r5.error);
    await waitServing(
      lab,
      sup.masterPid(),
      async () => {
        if (!(await oneGeneration(sup.masterPid()))) return false;
        const s = await sample(lab.listenPort, 6);
        return s.size === 1 && s.has("backend-a");
      },
      "only backend-a answers, the old workers gone",
    );
  });

  test("every golden file passes nginx -t", async () => {
    for (const [file] of GOLDEN_CASES) {
      const conf = join(lab.dir, `golden-${file}`);
      const golden = new URL(`../fixtures/nginx/${file}`, import.meta.url).pathname;
      await writeFile(conf, `error_log ${lab.dir}/logs/golden.log;\nevents {}\nhttp {\n    include ${golden};\n}\n`);
      const r = await runner.run([NGINX_BINARY, "-t", "-q", "-p", lab.dir, "-c", conf, "-g", `pid ${lab.dir}/golden.pid;`], { timeoutMs: 10_000 });
      assert.equal(r.exitCode, 0, `${file}: ${r.stderr}`);
    }
  });
});
