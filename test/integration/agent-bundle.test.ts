/**
 * The agent's shipped bin as `npm run build` bundles it (deploy/bundle-bins.mjs): V8 keeps its
 * whole source text on the agent's heap, so what goes into it is memory on every load balancer.
 * Read from the bundle's own source map: which package files it holds.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { defaultKeepvipBins } from "../../deploy/lab/paths.js";

const BIN = defaultKeepvipBins().agent;
const sources: string[] = JSON.parse(readFileSync(`${BIN}.map`, "utf8")).sources;

test("the agent bundle holds zod's English messages only, not every locale (zod imported as a namespace)", (t) => {
  t.diagnostic(`${BIN}: ${(statSync(BIN).size / 1024).toFixed(0)} KB, ${sources.length} source files`);
  const zod = sources.filter((s) => s.includes("/node_modules/zod/"));
  assert.ok(zod.length > 0, "zod is in the bundle (the config schemas use it)");
  const locales = zod.filter((s) => /\/locales\/(?!index\.js$)/.test(s));
  assert.deepEqual(locales, [`../../node_modules/zod/v4/locales/en.js`]);
});

test("the agent bundle leaves out grpc-js's proto-loader and protobufjs (channelz and ORCA only)", () => {
  assert.ok(
    sources.some((s) => s.includes("/node_modules/@grpc/grpc-js/")),
    "grpc-js is in the bundle",
  );
  assert.deepEqual(
    sources.filter((s) => /\/node_modules\/(@grpc\/proto-loader|protobufjs)\//.test(s)),
    [],
  );
});
