/**
 * deploy/systemd/*.service pass `systemd-analyze verify` (Debian's systemd 252)
 * unchanged. verify insists that every Exec* program exists and is
 * executable, and this machine has not installed keepvip: so the units are
 * verified inside a scratch root (--root) holding a copy of the distribution's
 * units (targets the units refer to), the units themselves, and a stub at each
 * program path they name. verify exits 0 even for unknown or unparsable keys
 * (it only warns), so any output at all fails the test.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const UNITS = ["keepvip-agent.service", "keepvip-coordinator.service"];
const SYSTEM_UNITS = ["/usr/lib/systemd/system", "/lib/systemd/system"].find((d) => existsSync(join(d, "sysinit.target")));
let root = "";

const unitText = (name: string) => readFileSync(join("deploy/systemd", name), "utf8");

/** The programs a unit runs: the first word of every Exec*= line, without systemd's -@:+! prefixes. */
function programs(text: string): string[] {
  return [...text.matchAll(/^Exec[A-Za-z]*=\s*[-@:+!]*(\S+)/gm)].map((m) => m[1]);
}

/** Directive values in a unit (a key may repeat). */
function values(text: string, key: string): string[] {
  return [...text.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) => m[1].trim());
}

function verify(...names: string[]) {
  const r = spawnSync("systemd-analyze", ["verify", `--root=${root}`, ...names], { encoding: "utf8", timeout: 30_000 });
  return { code: r.status, output: `${r.stdout ?? ""}${r.stderr ?? ""}`.trim(), error: r.error };
}

function installInto(name: string, text: string): void {
  writeFileSync(join(root, "etc/systemd/system", name), text);
  for (const p of programs(text)) {
    assert.ok(p.startsWith("/"), `${name}: ${p} must be an absolute path`);
    mkdirSync(join(root, dirname(p)), { recursive: true });
    writeFileSync(join(root, p), "#!/bin/sh\nexit 0\n");
    chmodSync(join(root, p), 0o755);
  }
}

before(() => {
  assert.ok(SYSTEM_UNITS, "systemd's own units are needed (apt-get install systemd)");
  root = mkdtempSync(join(tmpdir(), "keepvip-units-"));
  cpSync(SYSTEM_UNITS, join(root, "usr/lib/systemd/system"), { recursive: true, verbatimSymlinks: true });
  mkdirSync(join(root, "etc/systemd/system"), { recursive: true });
  for (const name of UNITS) installInto(name, unitText(name));
});

after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

test("systemd-analyze verify passes on both units, without a single warning", () => {
  const r = verify(...UNITS);
  assert.equal(r.error, undefined, `systemd-analyze could not run: ${r.error?.message}`);
  assert.equal(r.output, "", r.output);
  assert.equal(r.code, 0);
});

test("the harness catches a broken unit (a bad value, an unknown key, a missing program)", () => {
  const broken = unitText("keepvip-agent.service").replace("KillMode=process", "KillMode=bogus\nProtectSystm=strict");
  writeFileSync(join(root, "etc/systemd/system/keepvip-broken.service"), broken);
  const r = verify("keepvip-broken.service");
  assert.match(r.output, /kill mode|KillMode/i);
  assert.match(r.output, /Unknown key 'ProtectSystm'/);
  writeFileSync(
    join(root, "etc/systemd/system/keepvip-missing.service"),
    unitText("keepvip-agent.service").replaceAll("/usr/local/bin/keepvip-agent", "/usr/local/bin/keepvip-nowhere"),
  );
  const m = verify("keepvip-missing.service");
  assert.notEqual(m.code, 0);
  assert.match(m.output, /keepvip-nowhere is not executable/);
});

test("both units: notify readiness from a child process, restart always with a start limit, reload by SIGHUP", () => {
  for (const name of UNITS) {
    const t = unitText(name);
    assert.deepEqual(values(t, "Type"), ["notify"], name);
    assert.deepEqual(values(t, "NotifyAccess"), ["all"], `${name}: systemd-notify runs as our child`);
    assert.deepEqual(values(t, "Restart"), ["always"], name);
    assert.equal(values(t, "StartLimitIntervalSec").length, 1, name);
    assert.ok(Number(values(t, "StartLimitBurst")[0]) >= 3, name);
    assert.deepEqual(values(t, "ExecReload"), ["/bin/kill -HUP $MAINPID"], name);
    assert.deepEqual(values(t, "NoNewPrivileges"), ["yes"], name);
    assert.deepEqual(values(t, "ProtectSystem"), ["strict"], name);
    assert.deepEqual(values(t, "PrivateTmp"), ["yes"], name);
    assert.deepEqual(values(t, "ProtectHome"), ["yes"], name);
  }
});

test("the units start the package's own bins with the config in /etc/keepvip, checked before the start", () => {
  const bins = Object.keys((JSON.parse(readFileSync("package.json", "utf8")) as { bin: Record<string, string> }).bin);
  for (const name of UNITS) {
    const bin = name.replace(/\.service$/, "");
    assert.ok(bins.includes(bin), `${bin} is a bin of the package`);
    const config = `/etc/keepvip/${bin.replace(/^keepvip-/, "")}.yaml`;
    assert.deepEqual(values(unitText(name), "ExecStart"), [`/usr/local/bin/${bin} --config ${config}`]);
    assert.deepEqual(values(unitText(name), "ExecStartPre"), [`/usr/local/bin/${bin} --config ${config} --check`]);
  }
});

test("the agent: NET_ADMIN and NET_RAW, the address families ip and arping use, nginx survives an agent restart", () => {
  const t = unitText("keepvip-agent.service");
  const bounding = values(t, "CapabilityBoundingSet")[0].split(/\s+/);
  for (const cap of ["CAP_NET_ADMIN", "CAP_NET_RAW"]) {
    assert.ok(bounding.includes(cap), cap);
    assert.ok(values(t, "AmbientCapabilities")[0].split(/\s+/).includes(cap), cap);
  }
  assert.ok(!bounding.includes("CAP_SYS_ADMIN") && !bounding.includes("CAP_DAC_OVERRIDE"), "no broad capabilities");
  assert.deepEqual(values(t, "RestrictAddressFamilies")[0].split(/\s+/).sort(), ["AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET", "AF_UNIX"]);
  assert.deepEqual(values(t, "KillMode"), ["process"], "the default would kill nginx (child mode) with the agent");
  assert.deepEqual(values(t, "StateDirectory"), ["keepvip-agent"], "the agent config's default state_dir");
});

test("the coordinator holds no capability and writes only its state directory", () => {
  const t = unitText("keepvip-coordinator.service");
  assert.deepEqual(values(t, "CapabilityBoundingSet"), [""]);
  assert.deepEqual(values(t, "StateDirectory"), ["keepvip"], "the coordinator config's default state_dir");
  assert.deepEqual(values(t, "ReadWritePaths"), []);
});
