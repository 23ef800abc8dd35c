/** Domain events: typed in the engine, flat records at the admin API and in the journal. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EventLog, eventFromRecord, eventRecord, type DomainEvent, type EventRecord } from "../../coordinator/cluster/events.js";
import { EventJournal } from "../../coordinator/state/event-journal.js";

const cases: Array<{ name: string; event: DomainEvent; record: EventRecord }> = [
  {
    name: "a completed move keeps its duration as a number; the record carries it as text",
    event: { atMs: 5, kind: "move", group: "VI_1", node: "lb2", epoch: 3, message: "lb2 holds VI_1", durationMs: 42 },
    record: { atMs: 5, kind: "move", group: "VI_1", nodeId: "lb2", epoch: 3, message: "lb2 holds VI_1", fields: { duration_ms: "42" } },
  },
  {
    name: "a failed move has no duration",
    event: { atMs: 5, kind: "move", group: "VI_1", node: "lb2", epoch: 3, message: "failed" },
    record: { atMs: 5, kind: "move", group: "VI_1", nodeId: "lb2", epoch: 3, message: "failed", fields: {} },
  },
  {
    name: "an upstream push carries its version",
    event: { atMs: 6, kind: "push", message: "upstream config version 7 (startup)", version: 7 },
    record: { atMs: 6, kind: "push", group: "", nodeId: "", epoch: 0, message: "upstream config version 7 (startup)", fields: { version: "7" } },
  },
  {
    name: "an agent's event carries the agent's kind",
    event: { atMs: 7, kind: "agent", group: "VI_1", node: "lb1", message: "lb1: re-added", agentKind: "vip.drift-repaired" },
    record: { atMs: 7, kind: "agent", group: "VI_1", nodeId: "lb1", epoch: 0, message: "lb1: re-added", fields: { kind: "vip.drift-repaired" } },
  },
  {
    name: "a session event has no fields",
    event: { atMs: 8, kind: "session", node: "lb1", message: "lb1 session closed" },
    record: { atMs: 8, kind: "session", group: "", nodeId: "lb1", epoch: 0, message: "lb1 session closed", fields: {} },
  },
];

for (const c of cases) {
  test(`events: ${c.name}`, () => {
    assert.deepEqual(eventRecord(c.event), c.record);
    assert.deepEqual(eventFromRecord(c.record), c.event, "and it reads back as the same event");
  });
}

test("events: a record of an unknown kind is not read back", () => {
  assert.equal(eventFromRecord({ atMs: 1, kind: "made-up", group: "", nodeId: "", epoch: 0, message: "?", fields: {} }), undefined);
});

test("event log: stamps wall time, keeps the newest, fans out typed events", () => {
  let now = 100;
  const log = new EventLog(2, () => now);
  const seen: DomainEvent[] = [];
  log.subscribe((e) => seen.push(e));
  log.add({ kind: "config", message: "a" });
  now = 200;
  log.add({ kind: "move", group: "VI_1", message: "b", durationMs: 12 });
  log.add({ kind: "admin", message: "c" });
  assert.deepEqual(
    log.all().map((e) => e.message),
    ["b", "c"],
  );
  assert.deepEqual(
    log.since(200).map((e) => e.atMs),
    [200, 200],
  );
  const move = seen[1];
  assert.ok(move.kind === "move");
  assert.equal(move.durationMs, 12);
});

test("event journal: typed events survive a restart, numbers as numbers", async () => {
  const dir = mkdtempSync(join(tmpdir(), "keepvip-journal-"));
  try {
    const errors: unknown[] = [];
    const journal = new EventJournal(dir, 10, (err) => errors.push(err));
    const events = cases.map((c) => c.event);
    for (const e of events) journal.append(e, () => events);
    await journal.flush();
    assert.deepEqual(await new EventJournal(dir, 10, (err) => errors.push(err)).load(), events);
    assert.deepEqual(errors, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
