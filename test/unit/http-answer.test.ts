import { test } from "node:test";
import assert from "node:assert/strict";
import { AnswerReader, ChunkedDecoder } from "../../agent/probe/service.js";

const ANY = { min: 200, max: 399 };

/** Feeds the answer in pieces of `size` bytes; the first verdict, or end()'s. */
function judge(answer: string, size: number, body?: string, digest?: string): { outcome: string; detail: string; at: number } {
  const r = new AnswerReader(ANY, body, digest);
  const bytes = Buffer.from(answer, "latin1");
  for (let i = 0; i < bytes.length; i += size) {
    const v = r.feed(bytes.subarray(i, i + size));
    if (v) return { ...v, at: i + size };
  }
  return { ...r.end(), at: -1 };
}

test("an answer is judged the same however the bytes are split", () => {
  const cases: Array<[string, string, string | undefined, string]> = [
    ["status only", "HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n", undefined, "ok"],
    ["refused status", "HTTP/1.0 503 Service Unavailable\r\n\r\nbusy", undefined, "bad-status"],
    ["text found", 'HTTP/1.0 200 OK\r\n\r\n{"status":"1"}', '"status":"1"', "ok"],
    ["text missing", 'HTTP/1.0 200 OK\r\n\r\n{"status":"0"}', '"status":"1"', "bad-body"],
    ["no status line", "hello\r\n\r\n", undefined, "error"],
    ["cut in the headers", "HTTP/1.0 200 OK\r\nServer:", undefined, "reset"],
  ];
  for (const [name, answer, body, want] of cases)
    for (const size of [1, 3, 7, 1000]) assert.equal(judge(answer, size, body).outcome, want, `${name}, pieces of ${size}`);
});

test("without a body to judge, the verdict comes with the headers; with a length, once the body is in", () => {
  assert.equal(judge("HTTP/1.0 200 OK\r\n\r\nmore to come", 1000).at, 1000);
  const r = new AnswerReader(ANY, "ok", undefined);
  assert.equal(r.feed(Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nxx")), undefined);
  assert.deepEqual(r.feed(Buffer.from("xok")), { outcome: "ok", detail: "HTTP 200, body matched" });
});

test("headers without an end within 16 KiB are an error", () => {
  const v = judge(`HTTP/1.0 200 OK\r\nX: ${"a".repeat(17_000)}`, 4096);
  assert.equal(v.outcome, "error");
  assert.match(v.detail, /no end of the headers/);
});

test("chunked coding: the data of each chunk, extensions and trailers skipped, in any split", () => {
  const coded = "4\r\nWiki\r\n6;ext=1\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\n";
  for (const size of [1, 2, 5, 100]) {
    const d = new ChunkedDecoder();
    const parts: Buffer[] = [];
    for (let i = 0; i < coded.length; i += size) parts.push(...d.feed(Buffer.from(coded.slice(i, i + size), "latin1")));
    assert.equal(Buffer.concat(parts).toString("latin1"), "Wikipedia in \r\n\r\nchunks.", `pieces of ${size}`);
    assert.equal(d.done, true);
  }
});
