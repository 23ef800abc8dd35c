/** The node table's repeated-report fast path: which reports count as a repeat of the last. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { NodeTable, REPORT_FIELDS, sameReport, UNREAD_REPORT_FIELDS } from "../../coordinator/cluster/nodes.js";
import { Draining, HeldVip, NginxState, ProbeResult, Report, TrackResult, VipReach } from "../../shared/gen/keepvip/v1/agent.js";

const base: Report = {
  nginx: NginxState.NGINX_STATE_RUNNING,
  nginxDetail: "",
  tracks: [{ name: "chk_nginx", passing: true, detail: "ok" }],
  held: [{ group: "VI_1", address: "198.18.0.100/24", interface: "lan0", epoch: 3 }],
  upstreamVersion: 4,
  upstreamError: "",
  probes: [{ upstream: "web", server: "198.18.0.21:80", up: true, detail: "200", latencyMs: 1 }],
  reach: [{ group: "VI_1", address: "198.18.0.100", reachable: true, observedMs: 1000, consecutiveFailures: 0, lanOk: true, lanFresh: true }],
  fault: false,
  faultReason: "",
  seq: 7,
  commandsReceived: 0,
  draining: [],
};

test("sameReport: only the sequence number and what the coordinator never reads (a probe's latency, when a reach probe ran) may differ", () => {
  const cases: Array<{ name: string; patch: Partial<Report>; same: boolean }> = [
    { name: "an equal copy", patch: {}, same: true },
    { name: "the next seq", patch: { seq: 8 }, same: true },
    { name: "one more command received (the engine reads it before the comparison)", patch: { commandsReceived: 3 }, same: true },
    { name: "nginx down", patch: { nginx: NginxState.NGINX_STATE_DOWN }, same: false },
    { name: "nginx detail", patch: { nginxDetail: "restarting" }, same: false },
    { name: "a track failing", patch: { tracks: [{ name: "chk_nginx", passing: false, detail: "ok" }] }, same: false },
    { name: "a track's detail", patch: { tracks: [{ name: "chk_nginx", passing: true, detail: "slow" }] }, same: false },
    { name: "holds nothing", patch: { held: [] }, same: false },
    { name: "holds under another epoch", patch: { held: [{ ...base.held[0], epoch: 4 }] }, same: false },
    { name: "another upstream version", patch: { upstreamVersion: 5 }, same: false },
    { name: "an upstream error", patch: { upstreamError: "nginx -t failed" }, same: false },
    { name: "a probe down", patch: { probes: [{ ...base.probes[0], up: false }] }, same: false },
    { name: "a probe timed again (its latency)", patch: { probes: [{ ...base.probes[0], latencyMs: 2 }] }, same: true },
    { name: "a probe's answer", patch: { probes: [{ ...base.probes[0], detail: "503" }] }, same: false },
    { name: "a reach probe ran again, with the same outcome", patch: { reach: [{ ...base.reach[0], observedMs: 1200 }] }, same: true },
    { name: "one more failed reach probe", patch: { reach: [{ ...base.reach[0], consecutiveFailures: 1 }] }, same: false },
    { name: "FAULT", patch: { fault: true }, same: false },
    { name: "a drain", patch: { draining: [{ group: "VI_1", address: "198.18.0.100", connections: 2, elapsedMs: 250, timeoutMs: 5000 }] }, same: false },
  ];
  for (const c of cases) {
    const other = { ...structuredClone(base), ...c.patch };
    assert.equal(sameReport(base, other), c.same, c.name);
    assert.equal(sameReport(other, base), c.same, `${c.name} (the other way round)`);
  }
});

test("sameReport: every field of a report and of each message in it counts (a field added to the protocol must be compared)", () => {
  // The report's own fields: each but seq and commandsReceived compared (the lists by their
  // messages' fields below). The count of commands received is read before the comparison.
  const compared = ["nginx", "nginxDetail", "upstreamVersion", "upstreamError", "fault", "faultReason", "held", "tracks", "reach", "probes", "draining"];
  assert.deepEqual(Object.keys(Report.create()).sort(), [...compared, "seq", "commandsReceived"].sort(), "Report's fields");
  const messages: Array<[string, object, readonly string[]]> = [
    ["TrackResult", TrackResult.create(), REPORT_FIELDS.track],
    ["HeldVip", HeldVip.create(), REPORT_FIELDS.held],
    ["ProbeResult", ProbeResult.create(), REPORT_FIELDS.probe],
    ["VipReach", VipReach.create(), REPORT_FIELDS.reach],
    ["Draining", Draining.create(), REPORT_FIELDS.draining],
  ];
  const unread: Record<string, readonly string[]> = { ProbeResult: UNREAD_REPORT_FIELDS.probe, VipReach: UNREAD_REPORT_FIELDS.reach };
  for (const [name, created, fields] of messages)
    assert.deepEqual(Object.keys(created).sort(), [...fields, ...(unread[name] ?? [])].sort(), `${name}'s fields`);
  // And a change to any one of them is seen.
  const full: Report = { ...base, draining: [{ group: "VI_1", address: "198.18.0.100", connections: 2, elapsedMs: 250, timeoutMs: 5000 }] };
  const lists = {
    tracks: REPORT_FIELDS.track,
    held: REPORT_FIELDS.held,
    probes: REPORT_FIELDS.probe,
    reach: REPORT_FIELDS.reach,
    draining: REPORT_FIELDS.draining,
  };
  const changed = (v: unknown) => (typeof v === "string" ? `${v}x` : typeof v === "number" ? v + 1 : !v);
  for (const [list, fields] of Object.entries(lists) as Array<[keyof typeof lists, readonly string[]]>)
    for (const f of fields) {
      const other = structuredClone(full);
      const item = (other[list] as unknown as Array<Record<string, unknown>>)[0];
      item[f] = changed(item[f]);
      assert.equal(sameReport(full, other), false, `${list}[0].${f}`);
    }
  // The unread ones are not compared.
  const unreadLists = { probes: UNREAD_REPORT_FIELDS.probe, reach: UNREAD_REPORT_FIELDS.reach };
  for (const [list, fields] of Object.entries(unreadLists) as Array<[keyof typeof unreadLists, readonly string[]]>)
    for (const f of fields) {
      const other = structuredClone(full);
      const item = (other[list] as unknown as Array<Record<string, unknown>>)[0];
      item[f] = changed(item[f]);
      assert.equal(sameReport(full, other), true, `${list}[0].${f} is never read`);
    }
  for (const k of compared.filter((k) => !(k in lists))) {
    const other = structuredClone(full) as unknown as Record<string, unknown>;
    other[k] = changed(other[k]);
    assert.equal(sameReport(full, other as unknown as Report), false, k);
  }
});

function table() {
  const nodes = new NodeTable(["lb1"], 1000);
  nodes.open({ id: "s1", node: "lb1", instanceId: "i1", openedMs: 0, lastSeenMs: 0, peer: "test", fingerprint: "" });
  return nodes;
}

test("NodeTable.repeated: a live session repeating its last report is seen, its view untouched; anything else is left to report()", () => {
  const nodes = table();
  assert.equal(nodes.repeated("s1", base, 10), false, "no report yet");
  nodes.report("s1", base, 10, base);
  const view = nodes.views.get("lb1");
  assert.equal(nodes.repeated("s1", { ...base, seq: 8 }, 200), true);
  assert.equal(nodes.views.get("lb1"), view, "the same view object");
  assert.equal(nodes.sessions.get("s1")!.lastSeenMs, 200);
  assert.equal(nodes.lastReport.get("lb1")!.atMs, 200);
  assert.equal(nodes.repeated("s1", { ...base, fault: true }, 300), false, "a changed report");
  assert.equal(nodes.sessions.get("s1")!.lastSeenMs, 200, "left alone");
  // Silent: seeing it again changes its view, so it goes the long way.
  assert.deepEqual(nodes.sweep(1300), ["lb1"]);
  assert.equal(nodes.repeated("s1", base, 1310), false, "a silent session is not fast-pathed");
  // A new session of the node: its first report is compared with nothing of its own.
  nodes.open({ id: "s2", node: "lb1", instanceId: "i2", openedMs: 1400, lastSeenMs: 1400, peer: "test", fingerprint: "" });
  assert.equal(nodes.repeated("s2", base, 1410), false, "the last report came on another session");
  assert.equal(nodes.repeated("nope", base, 1410), false, "an unknown session");
});
