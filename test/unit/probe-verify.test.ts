import { test } from "node:test";
import assert from "node:assert/strict";
import { decideVerify, verifyVip, arpingProber, ndisc6Prober, neighbourProber, type ArpEvidence, type ArpProber } from "../../agent/probe/verify.js";
import type { ProbeOutcome, ProbeResult, ServiceProbeOptions } from "../../agent/probe/service.js";
import { FakeRunner } from "../support/fake-runner.js";

function result(outcome: ProbeOutcome, connected?: boolean): ProbeResult {
  return { ok: outcome === "ok", outcome, detail: outcome, latencyMs: 1, connected };
}
const answered: ArpEvidence = { answered: true, mac: "aa:bb:cc:dd:ee:ff", detail: "answered" };
const silent: ArpEvidence = { answered: false, detail: "nobody" };

const table: Array<[string, ProbeOutcome | undefined, ArpEvidence | undefined, string | undefined]> = [
  ["nothing known yet is no verdict", undefined, undefined, undefined],
  ["an ARP answer alone is no verdict: the service may still answer", undefined, answered, undefined],
  ["a service that answers is serving, whatever ARP says", "ok", undefined, "answering-serving"],
  ["a service that answers is serving even when ARP saw nobody", "ok", silent, "answering-serving"],
  ["a fast refusal means a host holds the VIP, before arping says so", "refused", undefined, "answering-not-serving"],
  ["a reset means a host holds the VIP", "reset", undefined, "answering-not-serving"],
  ["a 500 is a host that answers but does not serve", "bad-status", undefined, "answering-not-serving"],
  ["a wrong body is a host that answers but does not serve", "bad-body", silent, "answering-not-serving"],
  ["a timeout with no ARP answer yet is free: arping's second is not waited for", "timeout", undefined, "free"],
  ["a timeout after an ARP answer is a host that does not serve", "timeout", answered, "answering-not-serving"],
  ["an unreachable VIP with no ARP answer is free", "error", undefined, "free"],
  ["an unreachable VIP after an ARP answer is not serving", "error", answered, "answering-not-serving"],
  ["an aborted probe decides nothing", "aborted", answered, undefined],
];
for (const [name, outcome, arp, want] of table) {
  test(name, () => assert.equal(decideVerify(outcome === undefined ? undefined : result(outcome), arp)?.verdict, want));
}

test("a timeout after the connection was accepted is never free: a host holds the VIP, its service is slow", () => {
  assert.equal(decideVerify(result("timeout", true), undefined)?.verdict, "answering-not-serving");
  assert.equal(decideVerify(result("timeout", false), undefined)?.verdict, "free");
});

/** A fake that resolves after `ms` unless aborted (then: an aborted result). */
function delayedProbe(outcome: ProbeOutcome, ms: number, seen?: ServiceProbeOptions[]) {
  return (o: ServiceProbeOptions): Promise<ProbeResult> => {
    seen?.push(o);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(result(outcome)), ms);
      o.signal?.addEventListener("abort", () => {
        clearTimeout(t);
        resolve(result("aborted"));
      });
    });
  };
}
function delayedArp(evidence: ArpEvidence, ms: number, aborted: { value: boolean }): ArpProber {
  return (_iface, _addr, signal) =>
    new Promise((resolve) => {
      const t = setTimeout(() => resolve(evidence), ms);
      signal.addEventListener("abort", () => {
        aborted.value = true;
        clearTimeout(t);
        resolve({ answered: false, detail: "stopped" });
      });
    });
}
const req = { vip: "198.18.0.100", interface: "eth0", port: 10016, timeoutMs: 150 };

test("a probe timeout answers free at once and stops arping, which would take a second", async () => {
  const aborted = { value: false };
  const r = await verifyVip(req, { probe: delayedProbe("timeout", 30), arp: delayedArp(silent, 1000, aborted) });
  assert.equal(r.verdict, "free");
  assert.ok(r.tookMs < 500, `took ${r.tookMs} ms`);
  assert.equal(aborted.value, true);
  assert.match(r.detail, /arp: no answer yet/);
});

test("a fast refusal answers not-serving without waiting for a slower ARP answer", async () => {
  const aborted = { value: false };
  const r = await verifyVip(req, { probe: delayedProbe("refused", 5), arp: delayedArp(answered, 1000, aborted) });
  assert.equal(r.verdict, "answering-not-serving");
  assert.ok(r.tookMs < 500);
  assert.equal(aborted.value, true);
});

test("an ARP answer that came first turns a later timeout into not-serving", async () => {
  const aborted = { value: false };
  const r = await verifyVip(req, { probe: delayedProbe("timeout", 60), arp: delayedArp(answered, 10, aborted) });
  assert.equal(r.verdict, "answering-not-serving");
  assert.match(r.detail, /aa:bb:cc:dd:ee:ff/);
});

test("a timeout after an ARP answer is asked once more: a late answer the second time is serving, not a takeover", async () => {
  const aborted = { value: false };
  const outcomes: ProbeOutcome[] = ["timeout", "ok"];
  const seen: ServiceProbeOptions[] = [];
  const probe = (o: ServiceProbeOptions) => delayedProbe(outcomes[seen.length] ?? "ok", 30, seen)(o);
  const r = await verifyVip(req, { probe, arp: delayedArp(answered, 5, aborted) });
  assert.equal(seen.length, 2, "the service was asked twice");
  assert.equal(r.verdict, "answering-serving");
  assert.match(r.detail, /asked 2 times after timeouts/);
  assert.equal(seen[1]?.timeoutMs, 2 * req.timeoutMs, "the second ask has twice the time");
});

test("a connection accepted but not answered in time is asked again, even before ARP says anything; a later answer is serving", async () => {
  const seen: ServiceProbeOptions[] = [];
  const answers: ProbeResult[] = [result("timeout", true), result("timeout", true), result("ok", true)];
  const probe = async (o: ServiceProbeOptions) => {
    seen.push(o);
    return answers[seen.length - 1]!;
  };
  const r = await verifyVip(req, { probe, arp: delayedArp(silent, 1000, { value: false }) });
  assert.equal(seen.length, 3);
  assert.equal(r.verdict, "answering-serving");
});

test("a host that accepts connections but never answers is not serving after three asks (a hung nginx is taken over)", async () => {
  const seen: ServiceProbeOptions[] = [];
  const probe = async (o: ServiceProbeOptions) => {
    seen.push(o);
    return result("timeout", true);
  };
  const r = await verifyVip(req, { probe, arp: delayedArp(silent, 1000, { value: false }) });
  assert.equal(seen.length, 3);
  assert.equal(r.verdict, "answering-not-serving");
  assert.match(r.detail, /accepted the connection/);
});

test("a dead host (no ARP answer) is not asked twice: free at the first timeout", async () => {
  const seen: ServiceProbeOptions[] = [];
  const r = await verifyVip(req, { probe: delayedProbe("timeout", 20, seen), arp: delayedArp(silent, 1000, { value: false }) });
  assert.equal(r.verdict, "free");
  assert.equal(seen.length, 1);
});

test("an ARP answer arriving after the service answered changes nothing", async () => {
  const aborted = { value: false };
  const r = await verifyVip(req, { probe: delayedProbe("ok", 5), arp: delayedArp(answered, 50, aborted) });
  assert.equal(r.verdict, "answering-serving");
  assert.equal(aborted.value, true);
});

test("the service is probed through the VIP with the request's port, path and timeout", async () => {
  const seen: ServiceProbeOptions[] = [];
  await verifyVip({ ...req, path: "/health", hostHeader: "svc" }, { probe: delayedProbe("ok", 1, seen), arp: delayedArp(silent, 5, { value: false }) });
  assert.equal(seen.length, 1);
  assert.deepEqual(
    { ...seen[0], signal: undefined },
    { host: "198.18.0.100", port: 10016, path: "/health", hostHeader: "svc", timeoutMs: 150, signal: undefined },
  );
});

test("an arping that throws counts as no ARP answer", async () => {
  const r = await verifyVip(req, { probe: delayedProbe("timeout", 20), arp: () => Promise.reject(new Error("boom")) });
  assert.equal(r.verdict, "free");
});

test("the real ARP prober runs arping -D and reads the answering MAC", async () => {
  const runner = new FakeRunner({ reply: () => ({ exitCode: 1, stdout: "Unicast reply from 198.18.0.100 [AA:BB:CC:00:11:22]  0.5ms\n" }) });
  const calls = runner.calls;
  const prober = arpingProber(runner, "/usr/bin/arping");
  const stop = new AbortController();
  const e = await prober("eth0", "198.18.0.100", stop.signal);
  assert.deepEqual(e, { answered: true, mac: "aa:bb:cc:00:11:22", detail: "aa:bb:cc:00:11:22 answered for 198.18.0.100" });
  assert.deepEqual(calls[0].argv, ["/usr/bin/arping", "-D", "-c", "1", "-w", "1", "-I", "eth0", "198.18.0.100"]);
  assert.equal(calls[0].options?.signal, stop.signal);
});

test("the real ARP prober reads exit 0 as nobody answered", async () => {
  const e = await arpingProber(new FakeRunner({ reply: () => ({ exitCode: 0, stdout: "Received 0 response(s)" }) }), "/usr/bin/arping")(
    "eth0",
    "198.18.0.100",
    new AbortController().signal,
  );
  assert.equal(e.answered, false);
  assert.match(e.detail, /nobody answered/);
});

test("the IPv6 prober runs ndisc6 once and reads the answering MAC", async () => {
  const runner = new FakeRunner({
    reply: () => ({
      exitCode: 0,
      stdout: "Soliciting 2001:db8::100 (2001:db8::100) on eth0...\nTarget link-layer address: AA:BB:CC:00:11:22\n from 2001:db8::100\n",
    }),
  });
  const stop = new AbortController();
  const e = await ndisc6Prober(runner, "/usr/bin/ndisc6")("eth0", "2001:db8::100", stop.signal);
  assert.deepEqual(e, { answered: true, mac: "aa:bb:cc:00:11:22", detail: "aa:bb:cc:00:11:22 answered neighbour solicitation for 2001:db8::100" });
  assert.deepEqual(runner.calls[0].argv, ["/usr/bin/ndisc6", "-1", "-r", "1", "-w", "1000", "2001:db8::100", "eth0"]);
  assert.equal(runner.calls[0].options?.signal, stop.signal);
});

test("the IPv6 prober reads ndisc6's exit 2 as nobody answered, and an error as no answer with its reason", async () => {
  const nobody = await ndisc6Prober(new FakeRunner({ reply: () => ({ exitCode: 2, stdout: "Timed out.\nNo response.\n" }) }), "/usr/bin/ndisc6")(
    "eth0",
    "2001:db8::100",
    new AbortController().signal,
  );
  assert.deepEqual(nobody, { answered: false, detail: "nobody answered neighbour solicitation for 2001:db8::100 within 1 s" });
  const broken = await ndisc6Prober(new FakeRunner({ reply: () => ({ exitCode: 1, stderr: "eth0: No such device" }) }), "/usr/bin/ndisc6")(
    "eth0",
    "2001:db8::100",
    new AbortController().signal,
  );
  assert.equal(broken.answered, false);
  assert.match(broken.detail, /ndisc6 exited 1: eth0: No such device/);
});

test("the agent's prober: arping for IPv4, ndisc6 for IPv6 when installed", async () => {
  const runner = new FakeRunner({ reply: (argv) => (argv[0].endsWith("arping") ? { exitCode: 0 } : { exitCode: 2 }) });
  const prober = neighbourProber({ runner, arping: "/usr/bin/arping", ndisc6: "/usr/bin/ndisc6", toolExists: async () => true });
  await prober("eth0", "198.18.0.100", new AbortController().signal);
  await prober("eth0", "2001:db8::100", new AbortController().signal);
  assert.deepEqual(
    runner.argvs.map((a) => a[0]),
    ["/usr/bin/arping", "/usr/bin/ndisc6"],
  );
});

test("without ndisc6 an IPv6 VIP gets no neighbour evidence, the service probe alone decides, and it is logged once", async () => {
  const runner = new FakeRunner();
  const warnings: string[] = [];
  const log = { warn: (_o: unknown, msg: string) => warnings.push(msg) } as unknown as Parameters<typeof neighbourProber>[0]["log"];
  const prober = neighbourProber({ runner, arping: "/usr/bin/arping", ndisc6: "/usr/bin/ndisc6", toolExists: async () => false, log });
  const e = await prober("eth0", "2001:db8::100", new AbortController().signal);
  await prober("eth0", "2001:db8::100", new AbortController().signal);
  assert.deepEqual(e, { answered: false, detail: "not asked: /usr/bin/ndisc6 is not installed, the service probe alone decides" });
  assert.equal(runner.calls.length, 0);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /IPv6 VIPs are verified by the service probe through the VIP alone/);
  // A silent service is a free VIP, an answering one a held VIP: as with no ARP answer.
  const free = await verifyVip({ ...req, vip: "2001:db8::100" }, { probe: delayedProbe("timeout", 5), arp: prober });
  assert.equal(free.verdict, "free");
  const served = await verifyVip({ ...req, vip: "2001:db8::100" }, { probe: delayedProbe("ok", 5), arp: prober });
  assert.equal(served.verdict, "answering-serving");
});
