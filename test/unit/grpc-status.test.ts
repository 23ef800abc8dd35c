/** The API edge of the error convention: each error code has its gRPC status; anything unexpected is INTERNAL. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { status as Status } from "@grpc/grpc-js";
import { grpcStatusOf } from "../../coordinator/grpc/status.js";
import { fail, KeepvipError, ok, unwrap, type ErrorCode } from "../../shared/result.js";

const table: Array<[ErrorCode, Status]> = [
  ["not-found", Status.NOT_FOUND],
  ["invalid-argument", Status.INVALID_ARGUMENT],
  ["failed-precondition", Status.FAILED_PRECONDITION],
  ["unavailable", Status.UNAVAILABLE],
  ["deadline-exceeded", Status.DEADLINE_EXCEEDED],
  ["resource-exhausted", Status.RESOURCE_EXHAUSTED],
  ["permission-denied", Status.PERMISSION_DENIED],
  ["unauthenticated", Status.UNAUTHENTICATED],
  ["internal", Status.INTERNAL],
];

for (const [code, grpc] of table) {
  test(`grpc status: a ${code} error is ${Status[grpc]}, with its message as the details`, () => {
    assert.deepEqual(grpcStatusOf(new KeepvipError(code, `why: ${code}`)), { code: grpc, details: `why: ${code}` });
  });
}

test("grpc status: an unexpected exception is INTERNAL, never NOT_FOUND", () => {
  assert.deepEqual(grpcStatusOf(new TypeError("cannot read properties of undefined")), {
    code: Status.INTERNAL,
    details: "cannot read properties of undefined",
  });
  assert.deepEqual(
    grpcStatusOf(new Error('unknown upstream "x"')),
    { code: Status.INTERNAL, details: 'unknown upstream "x"' },
    "words alone do not make a NOT_FOUND",
  );
  assert.deepEqual(grpcStatusOf("a thrown string"), { code: Status.INTERNAL, details: "a thrown string" });
});

test("result: ok carries the value, fail carries a typed error that unwrap throws", () => {
  assert.deepEqual(ok(3), { ok: true, value: 3 });
  const r = fail("not-found", "no such group");
  assert.equal(r.ok, false);
  assert.ok(r.error instanceof KeepvipError && r.error instanceof Error);
  assert.deepEqual([r.error.code, r.error.message], ["not-found", "no such group"]);
  assert.equal(unwrap(ok("v")), "v");
  assert.throws(
    () => unwrap(r),
    (e: unknown) => e instanceof KeepvipError && e.code === "not-found",
  );
});
