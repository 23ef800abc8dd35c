/**
 * Hostile input, fuzzed: random and mutated inputs fed to the config
 * loader, the keepalived importer and the nginx renderer (the coordinator's
 * RPC handlers are fuzzed over the network in test/component/fuzz-rpc.test.ts).
 * Properties: no crash, no hang, every rejection a clear error naming where,
 * nothing accepted that breaks an invariant, nothing injected into an nginx file.
 * fast-check with fixed seeds: every run feeds the same cases, and the number
 * of cases run is printed. Failing cases found on the way are kept as
 * regression examples (run first on every run).
 */
import { after, before, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { parse as parseYaml, stringify } from "yaml";
import { agentConfigSchema } from "../../shared/config/agent.js";
import { coordinatorConfigSchema } from "../../shared/config/coordinator.js";
import { ConfigError, parseConfigText } from "../../shared/config/load.js";
import { parseHostPort } from "../../shared/config/net.js";
import { importKeepalived } from "../../cli/importer/index.js";
import { parseBlocks, SyntaxProblem, type Dialect, type Statement } from "../../cli/importer/syntax.js";
import { renderUpstreams, UpstreamRenderError } from "../../agent/nginx/render.js";
import type { UpstreamConfig } from "../../shared/gen/keepvip/v1/agent.js";
import { ALLOWED_LINE, FIELD, upstreamConfig } from "./fuzz-upstreams.js";
import { AGENT_TEXTS, COORDINATOR_TEXTS } from "../fixtures/configs.js";
import { agentViolations, coordinatorViolations } from "./fuzz-invariants.js";
import { applyStructEdits, leafEdit, mutatedText, randomText, structEdit } from "./fuzz-mutate.js";
import { mutatedTree } from "./fuzz-blocks.js";
import { Watchdog } from "./fuzz-watchdog.js";

/** What a case came to: the input was accepted (and checked), or refused with a clear error. */
type Outcome = "accepted" | "refused";

const read = (f: string) => readFileSync(f, "utf8");

/** A single call on a 2-core shared machine: generous, but a hang (or a quadratic blow-up) fails. */
const CASE_BUDGET_MS = 2000;

function timed<T>(fn: () => T): T {
  const start = performance.now();
  try {
    return fn();
  } finally {
    const took = performance.now() - start;
    assert.ok(took < CASE_BUDGET_MS, `one case took ${Math.round(took)} ms (budget ${CASE_BUDGET_MS} ms)`);
  }
}

/** A case stuck in a loop cannot be timed from this thread: the watchdog ends the run instead. */
const watchdog = new Watchdog(10_000);
before(() => watchdog.ready);
after(() => watchdog.stop());

/** Runs a property, counting the cases actually run, and prints the count. */
function run<T>(t: TestContext, what: string, arb: fc.Arbitrary<T>, check: (v: T) => Outcome, params: fc.Parameters<[T]>): number {
  let cases = 0;
  const outcomes = { accepted: 0, refused: 0 };
  watchdog.property(`${what} (seed ${String(params.seed)}, regression examples first)`);
  fc.assert(
    fc.property(arb, (v) => {
      watchdog.begin(cases++);
      try {
        outcomes[check(v)]++;
      } finally {
        watchdog.end();
      }
    }),
    { includeErrorInReport: true, interruptAfterTimeLimit: 30_000, markInterruptAsFailure: true, ...params },
  );
  t.diagnostic(`${what}: ${cases} cases (${outcomes.accepted} accepted, ${outcomes.refused} refused with a clear error)`);
  return cases;
}

// ------------------------------------------------------------------ config loader

/** A ConfigError whose every problem is one line naming the file (and where, when it can). */
function assertClearConfigError(err: unknown, text: string): void {
  if (!(err instanceof ConfigError)) throw new Error(`not a ConfigError: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  assert.equal(err.source, "f.yaml");
  assert.ok(err.problems.length > 0, "a ConfigError with no problems");
  const lines = text.split(/\r\n|\r|\n/).length;
  for (const p of err.problems) {
    const m = /^f\.yaml(?::(\d+):(\d+))? (\S.*)$/s.exec(p);
    assert.ok(m, `problem does not start with "f.yaml[:line:col] ": ${JSON.stringify(p)}`);
    assert.ok(!/[\r\n]/.test(p), `problem spans lines: ${JSON.stringify(p)}`);
    assert.ok(!/must be (\w+), got \1\b/.test(p), `a problem that contradicts itself: ${JSON.stringify(p)}`);
    if (m[1] !== undefined) assert.ok(Number(m[1]) >= 1 && Number(m[1]) <= lines + 1 && Number(m[2]) >= 1, `position out of range in ${JSON.stringify(p)}`);
  }
}

function checkConfig(kind: "coordinator" | "agent", text: string): Outcome {
  let accepted;
  try {
    accepted = timed(() =>
      kind === "coordinator" ? parseConfigText(coordinatorConfigSchema, text, "f.yaml") : parseConfigText(agentConfigSchema, text, "f.yaml"),
    );
  } catch (err) {
    assertClearConfigError(err, text);
    return "refused";
  }
  const bad = kind === "coordinator" ? coordinatorViolations(accepted as never) : agentViolations(accepted as never);
  assert.deepEqual(bad, [], `accepted a config that breaks invariants:\n${text}`);
  return "accepted";
}

/** Regressions the loader fuzz found. */
const LOADER_REGRESSIONS = [
  // An alias bomb and an alias without its anchor: yaml's ReferenceError escaped instead of a ConfigError.
  "a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n",
  "groups: *nope\n",
  // A newline in a value was quoted raw into the problem: a line of the error not naming the file.
  'insecure: true\nlisten: "1.2.3.4:80\\n  include x"\ngroups: []\n',
  // "must be object, got object" (a list) and "must be number, got number" (1e400 is Infinity).
  "- just\n- a list\n",
  "insecure: true\ngroups: [{ name: g, vips: [198.18.0.1], service: { port: 1 }, members: [{ node: a, priority: 1e400 }] }]\n",
];

for (const kind of ["coordinator", "agent"] as const) {
  const texts = kind === "coordinator" ? COORDINATOR_TEXTS : AGENT_TEXTS;
  test(`config loader (${kind}): random, mutated and structurally edited YAML is accepted only when valid, else a ConfigError naming file:line:col`, (t) => {
    const examples = LOADER_REGRESSIONS.map((r) => [r] as [string]);
    let total = 0;
    total += run(t, `${kind} random text`, randomText, (s) => checkConfig(kind, s), { seed: 42, numRuns: 300, examples });
    total += run(t, `${kind} mutated files`, mutatedText(texts), (s) => checkConfig(kind, s), { seed: 43, numRuns: 600 });
    const objects = texts.map((x) => parseYaml(x) as unknown);
    const edited = fc
      .tuple(fc.constantFrom(...objects), fc.array(structEdit, { minLength: 1, maxLength: 4 }))
      .map(([o, e]) => stringify(applyStructEdits(o, e)));
    total += run(t, `${kind} structurally edited`, edited, (s) => checkConfig(kind, s), { seed: 44, numRuns: 600 });
    const leaves = fc.tuple(fc.constantFrom(...objects), fc.array(leafEdit, { minLength: 1, maxLength: 3 })).map(([o, e]) => stringify(applyStructEdits(o, e)));
    total += run(t, `${kind} values edited`, leaves, (s) => checkConfig(kind, s), { seed: 52, numRuns: 600 });
    t.diagnostic(`config loader (${kind}): ${total} cases in all`);
  });
}

// ------------------------------------------------------------------ keepalived importer

const KEEPALIVED = ["test/fixtures/seed/keepalived-lb1.conf", "test/fixtures/seed/keepalived-lb2.conf"].map(read);
const NGINX = ["test/fixtures/seed/my.conf", "deploy/examples/nginx/my.conf"].map(read);

function lineCount(text: string): number {
  return text.split("\n").length;
}

/** Positions the parser reports lie inside the text (walked without recursion: trees may be deep). */
function assertPositions(list: Statement[], text: string): void {
  const lines = text.split("\n");
  for (const pending = [...list]; pending.length > 0; ) {
    const s = pending.pop()!;
    assert.ok(s.line >= 1 && s.line <= lines.length, `statement ${s.name} at line ${s.line} of ${lines.length}`);
    assert.ok(
      s.col >= 1 && s.col <= lines[s.line - 1].length,
      `statement ${JSON.stringify(s.name)} at ${s.line}:${s.col}, the line has ${lines[s.line - 1].length} characters`,
    );
    pending.push(...(s.children ?? []));
  }
}

function assertSyntaxProblem(err: unknown, file: string, text: string): void {
  if (!(err instanceof SyntaxProblem)) throw new Error(`not a SyntaxProblem: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  assert.equal(err.file, file);
  assert.ok(err.reason.length > 0);
  assert.equal(err.message, `${file}:${err.line}:${err.col}: ${err.reason}`);
  assert.ok(err.line >= 1 && err.line <= lineCount(text), `line ${err.line} of ${lineCount(text)}: ${err.message}`);
  const len = text.split("\n")[err.line - 1].length;
  assert.ok(err.col >= 1 && err.col <= len + 1, `col ${err.col} on a line of ${len}: ${err.message}`);
}

const BLOCK_REGRESSIONS: Array<[string, Dialect]> = [
  // White space other than space, tab and CR (a BOM, a no-break space) made the lexer loop forever.
  ["\ufeffvrrp_instance VI_1 {\n  priority\u00a0100\n}\n", "keepalived"],
  ["upstream u {\n  server\u00a0198.18.0.21:80;\n}\n", "nginx"],
  // A backslash-escaped newline inside quotes was taken into the word, and positions after it were off.
  ['vrrp_script chk {\n  user "a\\\nb" }\n  x }\n', "keepalived"],
  // Nesting deep enough to overflow the stack of the readers that walk the tree.
  [`${"http { ".repeat(20_000)}${"} ".repeat(20_000)}`, "nginx"],
];

test("block parser (keepalived and nginx dialects): only SyntaxProblem, with file:line:col inside the input", (t) => {
  const check = ([text, dialect]: [string, Dialect]): Outcome => {
    try {
      assertPositions(
        timed(() => parseBlocks(text, "k.conf", dialect)),
        text,
      );
      return "accepted";
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      assertSyntaxProblem(err, "k.conf", text);
      return "refused";
    }
  };
  const dialect = fc.constantFrom<Dialect>("keepalived", "nginx");
  let total = 0;
  total += run(t, "parser random text", fc.tuple(randomText, dialect), check, { seed: 45, numRuns: 500, examples: BLOCK_REGRESSIONS.map((r) => [r]) });
  total += run(t, "parser mutated keepalived.conf", fc.tuple(mutatedText(KEEPALIVED), fc.constant<Dialect>("keepalived")), check, { seed: 46, numRuns: 500 });
  total += run(t, "parser mutated nginx.conf", fc.tuple(mutatedText(NGINX), fc.constant<Dialect>("nginx")), check, { seed: 47, numRuns: 500 });
  t.diagnostic(`block parser: ${total} cases in all`);
});

/** Hosts of the imported servers: each must come from the input, never be made up ("undefined:80"). */
function importedHosts(coordinator: Record<string, unknown>): string[] {
  const ups = (coordinator.upstreams ?? []) as Array<{ servers: Array<{ address: string }> }>;
  return ups.flatMap((u) =>
    u.servers.map((s) => {
      const hp = parseHostPort(s.address);
      return hp.ok ? hp.value.host : s.address;
    }),
  );
}

const IMPORT_REGRESSIONS: Array<[string[], string[]]> = [
  // 20,000 nested blocks overflowed the stack of the nginx reader (RangeError).
  [["vrrp_instance VI_1 {\n interface eth0\n virtual_ipaddress {\n 198.18.0.100\n }\n}\n"], [`${"http { ".repeat(20_000)}${"} ".repeat(20_000)}`]],
  // virtual_server without an address crashed with a TypeError.
  [["vrrp_instance VI_1 {\n interface eth0\n virtual_ipaddress {\n 198.18.0.100\n }\n}\nvirtual_server {\n real_server 198.18.0.21 80 {\n }\n}\n"], []],
  // `server;` and `real_server {` without an address were imported as the server "undefined:80".
  [["vrrp_instance VI_1 {\n interface eth0\n virtual_ipaddress {\n 198.18.0.100\n }\n}\n"], ["upstream u { server; server 198.18.0.21:80; }\n"]],
  [["vrrp_instance VI_1 {\n interface eth0\n virtual_ipaddress {\n 198.18.0.100\n }\n}\nvirtual_server 198.18.0.100 80 {\n real_server {\n }\n}\n"], []],
  // A backslash-escaped newline in a quoted value ended the notes' comment line: the rest became YAML in the imported config.
  [
    [
      'vrrp_instance VI_1 {\n interface eth0\n virtual_ipaddress {\n 198.18.0.100\n }\n}\nvrrp_script chk {\n user "x\\\ntiming: {heartbeat_interval: 9s} #"\n}\n',
    ],
    [],
  ],
  // A carriage return in a quoted value went into the notes as is (a terminal shows the line overwritten).
  [['vrrp_instance VI_1 {\n interface eth0\n virtual_ipaddress {\n 198.18.0.100\n }\n}\nvrrp_script chk {\n user "x\r#   (nothing to review)"\n}\n'], []],
];

test("importer: mutated keepalived.conf and nginx configs give configs that validate (and say exactly what the result says), or a clear error", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "keepvip-fuzz-import-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const check = ([kTexts, nTexts]: [string[], string[]]): Outcome => {
    const kFiles = kTexts.map((_, i) => join(dir, `keepalived-${i + 1}.conf`));
    const nFiles = nTexts.map((_, i) => join(dir, `nginx-${i + 1}.conf`));
    kTexts.forEach((text, i) => writeFileSync(kFiles[i], text));
    nTexts.forEach((text, i) => writeFileSync(nFiles[i], text));
    let out;
    try {
      out = timed(() => importKeepalived(kFiles, nFiles, kFiles.length === 2 ? { names: ["lb1", "lb2"] } : {}));
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      if (err instanceof SyntaxProblem) {
        const i = [...kFiles, ...nFiles].indexOf(err.file);
        assert.ok(i >= 0, `SyntaxProblem names an unknown file ${err.file}`);
        assertSyntaxProblem(err, err.file, [...kTexts, ...nTexts][i]);
        return "refused";
      }
      assert.ok(err instanceof Error && err.constructor === Error, `importer threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
      assert.ok(err.message.trim().length > 0, "an Error without a message");
      return "refused";
    }
    const { result, files } = out;
    for (const f of files)
      assert.ok(!/[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029]/.test(f.text), `${f.name} carries a control character: ${JSON.stringify(f.text.slice(0, 400))}`);
    const input = [...kTexts, ...nTexts].join("\n");
    for (const host of importedHosts(result.coordinator)) assert.ok(input.includes(host), `imported server host ${JSON.stringify(host)} is not in the input`);
    // Each file validates, and reads back as exactly the result (the notes header injected nothing).
    const coordFile = files.find((f) => f.name === "coordinator.yaml")!;
    assert.deepEqual(
      parseConfigText(coordinatorConfigSchema, coordFile.text, coordFile.name),
      parseConfigText(coordinatorConfigSchema, stringify(result.coordinator), "result"),
    );
    for (const a of result.agents) {
      const f = files.find((x) => x.name === `agent-${a.node}.yaml`)!;
      assert.deepEqual(parseConfigText(agentConfigSchema, f.text, f.name), parseConfigText(agentConfigSchema, stringify(a.config), "result"));
    }
    return "accepted";
  };
  const oneOrTwo = <T>(arb: fc.Arbitrary<T>) => fc.array(arb, { minLength: 1, maxLength: 2 });
  let total = 0;
  total += run(t, "importer mutated text", fc.tuple(oneOrTwo(mutatedText(KEEPALIVED, 4)), fc.array(mutatedText(NGINX, 4), { maxLength: 1 })), check, {
    seed: 48,
    numRuns: 300,
    examples: IMPORT_REGRESSIONS.map((r) => [r]),
  });
  total += run(
    t,
    "importer mutated structure",
    fc.tuple(oneOrTwo(mutatedTree(KEEPALIVED, "keepalived")), fc.array(mutatedTree(NGINX, "nginx"), { maxLength: 1 })),
    check,
    { seed: 49, numRuns: 500 },
  );
  t.diagnostic(`importer: ${total} cases in all`);
});

// ------------------------------------------------------------------ nginx renderer

function checkRender(config: UpstreamConfig): Outcome {
  let text: string;
  try {
    text = timed(() => renderUpstreams(config));
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    if (!(err instanceof UpstreamRenderError)) throw new Error(`not an UpstreamRenderError: ${String(err)}`);
    assert.match(err.field, FIELD);
    assert.ok(err.message.startsWith(`${err.field}: `) && err.message.length > err.field.length + 2, err.message);
    assert.ok(!/[\r\n]/.test(err.message), `the error spans lines: ${JSON.stringify(err.message)}`);
    return "refused";
  }
  const lines = text.split("\n");
  assert.ok(
    lines.slice(0, 3).every((l) => l.startsWith("# ")),
    "the header is three comment lines",
  );
  for (const line of lines.slice(3)) {
    if (line.trim() === "") continue;
    assert.match(line.trim(), ALLOWED_LINE, `a line keepvip never writes: ${JSON.stringify(line)}`);
  }
  // Read back with the importer's nginx parser: the same upstreams, the same servers, nothing else.
  const tree = parseBlocks(text, "upstreams.conf", "nginx");
  assert.deepEqual(
    tree.map((s) => [s.name, s.args]),
    config.upstreams.map((u) => ["upstream", [u.name]]),
  );
  tree.forEach((block, i) => {
    const servers = (block.children ?? []).filter((c) => c.name === "server");
    assert.deepEqual(
      servers.map((s) => s.args[0]),
      config.upstreams[i].servers.map((s) => s.address),
      "every server line carries its address, unchanged",
    );
    for (const c of block.children ?? [])
      assert.ok(["server", "least_conn", "ip_hash", "hash", "keepalive"].includes(c.name) && !c.children, `directive ${c.name}`);
  });
  return "accepted";
}

test("nginx renderer: hostile upstream names, addresses and numbers are refused naming the field, or rendered with no injected directive", (t) => {
  run(t, "renderer random upstream configs", upstreamConfig, checkRender, { seed: 50, numRuns: 2000 });
});
