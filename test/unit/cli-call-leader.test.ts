/** The admin client's way to the leader among replicas (cli/client.ts callLeader), with stand-in replicas (no network). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Metadata, status as Status, type ServiceError } from "@grpc/grpc-js";
import { ADMIN_CHANNEL_OPTIONS, CliError, callLeader } from "../../cli/client.js";
import { LEADER_TRAILER, REPLICA_TRAILER } from "../../shared/protocol.js";
import type { AdminClient } from "../../shared/gen/keepvip/v1/admin.js";

type Answer = { ok: string } | { code: Status; leader?: string; replica?: string };

function serviceError(a: Exclude<Answer, { ok: string }>): ServiceError {
  const metadata = new Metadata();
  if (a.leader) metadata.set(LEADER_TRAILER, a.leader);
  if (a.replica) metadata.set(REPLICA_TRAILER, a.replica);
  return Object.assign(new Error(Status[a.code]), { code: a.code, details: Status[a.code], metadata });
}

/** Calls callLeader over replicas answering as `answers` says; returns the answer and the order they were asked in. */
async function call(answers: Record<string, Answer>, addresses = Object.keys(answers)) {
  const asked: string[] = [];
  const clientFor = (address: string) => ({ address }) as unknown as AdminClient;
  const r = await callLeader<string>(addresses, clientFor, (c, cb) => {
    const address = (c as unknown as { address: string }).address;
    asked.push(address);
    const a = answers[address]!;
    if ("ok" in a) cb(null, a.ok);
    else cb(serviceError(a));
  }).catch((e: unknown) => e as Error);
  return { r, asked };
}

test("callLeader: a replica that does not answer in time is passed over, a follower's hint is followed", async () => {
  const { r, asked } = await call({
    a: { code: Status.DEADLINE_EXCEEDED },
    b: { code: Status.UNAVAILABLE, leader: "c", replica: "coord2" },
    c: { ok: "status of c" },
  });
  assert.deepEqual(r, { res: "status of c", address: "c" });
  assert.deepEqual(asked, ["a", "b", "c"]);
});

test("callLeader: the hint goes first, ahead of the list", async () => {
  const { r, asked } = await call({ a: { code: Status.UNAVAILABLE, leader: "c", replica: "coord1" }, b: { ok: "b?" }, c: { ok: "status of c" } });
  assert.deepEqual(r, { res: "status of c", address: "c" });
  assert.deepEqual(asked, ["a", "c"]);
});

test("callLeader: one coordinator that does not answer in time is an error, not a retry", async () => {
  const { r, asked } = await call({ a: { code: Status.DEADLINE_EXCEEDED } });
  assert.ok(r instanceof CliError, String(r));
  assert.deepEqual(asked, ["a"]);
});

test("callLeader: a refusal that is not about leadership stops at once (a denied change must not go elsewhere)", async () => {
  const { r, asked } = await call({ a: { code: Status.PERMISSION_DENIED }, b: { ok: "b" } });
  assert.ok(r instanceof CliError, String(r));
  assert.deepEqual(asked, ["a"]);
});

test("callLeader: every replica follows and none names a leader: no replica leads (exit 3)", async () => {
  const { r } = await call({ a: { code: Status.UNAVAILABLE, replica: "coord1" }, b: { code: Status.UNAVAILABLE, replica: "coord2" } });
  assert.ok(r instanceof CliError);
  assert.equal((r as CliError).exitCode, 3);
  assert.match(r.message, /no replica leads right now/);
});

test("admin channels: a flow-control window that takes a status of thousands of groups (hundreds of KiB) in one round trip", () => {
  assert.ok(ADMIN_CHANNEL_OPTIONS["grpc-node.flow_control_window"] >= 1024 * 1024);
});
