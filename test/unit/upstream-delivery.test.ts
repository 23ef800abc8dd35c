/** Per-node upstream delivery: who gets the current version now, why, and when to look again. */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  acknowledged,
  decide,
  newDelivery,
  planDelivery,
  resendDelayMs,
  sent,
  type NodeDelivery,
  type NodeDecision,
} from "../../coordinator/upstreams/delivery.js";

const policy = { firstMs: 200, maxMs: 10_000 };
const node = (d: Partial<NodeDelivery>): NodeDelivery => ({ ...newDelivery(0), ...d });

const cases: Array<{ name: string; d: NodeDelivery; current: number; now: number; want: Omit<NodeDecision, "node"> }> = [
  { name: "nothing published yet: nothing to send", d: node({}), current: 0, now: 1000, want: { send: false, reason: "up-to-date" } },
  {
    name: "a node already on the current version is left alone",
    d: node({ acked: 5, lastSent: 5, lastSentAt: 0, unacked: 0 }),
    current: 5,
    now: 1000,
    want: { send: false, reason: "up-to-date" },
  },
  {
    name: "a node that says at hello it has the current version is not sent it again",
    d: node({ acked: 5 }),
    current: 5,
    now: 1000,
    want: { send: false, reason: "up-to-date" },
  },
  {
    name: "a new session on an older version gets the current one now",
    d: node({ acked: 3 }),
    current: 5,
    now: 1000,
    want: { send: true, reason: "new-version", wakeAtMs: 1200 },
  },
  {
    name: "a new version goes out at once to a node that acked the previous one",
    d: node({ acked: 4, lastSent: 4, lastSentAt: 900 }),
    current: 5,
    now: 1000,
    want: { send: true, reason: "new-version", wakeAtMs: 1200 },
  },
  {
    name: "a new version is not held back by the back-off of an older one",
    d: node({ acked: 3, lastSent: 4, lastSentAt: 990, unacked: 6, nacked: true }),
    current: 5,
    now: 1000,
    want: { send: true, reason: "new-version", wakeAtMs: 1200 },
  },
  {
    name: "sent, not acked yet, within the first back-off: wait",
    d: node({ acked: 4, lastSent: 5, lastSentAt: 1000, unacked: 1 }),
    current: 5,
    now: 1150,
    want: { send: false, reason: "waiting", wakeAtMs: 1200 },
  },
  {
    name: "sent and never acked after the first back-off: resend, then wait twice as long",
    d: node({ acked: 4, lastSent: 5, lastSentAt: 1000, unacked: 1 }),
    current: 5,
    now: 1200,
    want: { send: true, reason: "resend-unacked", wakeAtMs: 1600 },
  },
  {
    name: "a NACKed version is resent after the back-off, not at once",
    d: node({ acked: 4, lastSent: 5, lastSentAt: 1000, unacked: 1, nacked: true }),
    current: 5,
    now: 1010,
    want: { send: false, reason: "waiting", wakeAtMs: 1200 },
  },
  {
    name: "a NACKed version is resent once the back-off is over",
    d: node({ acked: 4, lastSent: 5, lastSentAt: 1000, unacked: 2, nacked: true }),
    current: 5,
    now: 1400,
    want: { send: true, reason: "resend-nacked", wakeAtMs: 2200 },
  },
  {
    name: "the back-off is bounded: a node refusing for long is retried every 10 s",
    d: node({ acked: 4, lastSent: 5, lastSentAt: 0, unacked: 40, nacked: true }),
    current: 5,
    now: 10_000,
    want: { send: true, reason: "resend-nacked", wakeAtMs: 20_000 },
  },
  {
    name: "a node ahead of the coordinator (its state was lost) is sent the current version",
    d: node({ acked: 9 }),
    current: 5,
    now: 1000,
    want: { send: true, reason: "new-version", wakeAtMs: 1200 },
  },
];

for (const c of cases) {
  test(`delivery: ${c.name}`, () => {
    assert.deepEqual(decide("lb1", c.d, c.current, c.now, policy), { node: "lb1", ...c.want });
  });
}

test("delivery: the resend delay doubles from 200 ms and stops at 10 s", () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 100].map((n) => resendDelayMs(n, policy)),
    [200, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000],
  );
});

test("delivery: an ack of the current version resets the back-off; an older version with an error is a NACK", () => {
  const s = sent(sent(newDelivery(4), 5, 0), 5, 200);
  assert.equal(s.unacked, 2);
  const nack = acknowledged(s, 4, "nginx -t failed", 5);
  assert.deepEqual([nack.acked, nack.unacked, nack.nacked], [4, 2, true]);
  const lag = acknowledged(s, 4, "", 5);
  assert.deepEqual([lag.acked, lag.unacked, lag.nacked], [4, 2, false]);
  const ack = acknowledged(nack, 5, "", 5);
  assert.deepEqual([ack.acked, ack.unacked, ack.nacked], [5, 0, false]);
  assert.equal(sent(ack, 6, 300).unacked, 1, "a new version counts its sends from one");
});

test("delivery: a dropped push is resent on a doubling schedule until the ack, then never again", () => {
  let d = newDelivery(0);
  const sends: number[] = [];
  for (let now = 0; now <= 3000; now += 10) {
    if (now === 1500) d = acknowledged(d, 1, "", 1);
    if (decide("lb1", d, 1, now, policy).send) {
      sends.push(now);
      d = sent(d, 1, now);
    }
  }
  assert.deepEqual(sends, [0, 200, 600, 1400]);
});

test("delivery: the plan sends to the nodes that need it, in name order, and wakes at the earliest resend", () => {
  const nodes = new Map<string, NodeDelivery>([
    ["lb3", node({ acked: 4, lastSent: 5, lastSentAt: 1000, unacked: 1 })],
    ["lb1", node({ acked: 3 })],
    ["lb2", node({ acked: 5, lastSent: 5, lastSentAt: 900 })],
    ["lb0", node({ acked: 4, lastSent: 5, lastSentAt: 0, unacked: 3 })],
  ]);
  const plan = planDelivery(nodes, 5, 1100, policy);
  assert.deepEqual(plan.send, ["lb0", "lb1"]);
  assert.deepEqual(
    plan.decisions.map((x) => [x.node, x.reason]),
    [
      ["lb0", "resend-unacked"],
      ["lb1", "new-version"],
      ["lb2", "up-to-date"],
      ["lb3", "waiting"],
    ],
  );
  assert.equal(plan.wakeAtMs, 1200, "lb3's first resend comes due first");
  assert.equal(planDelivery(new Map([["lb2", node({ acked: 5 })]]), 5, 0, policy).wakeAtMs, undefined, "everyone up to date: no wake-up");
});
