/**
 * Inputs for the fuzz tests: real files (deploy/examples, the seed's
 * keepalived.conf and my.conf) edited the way a typo, a bad merge or an
 * attacker would: characters flipped, inserted and deleted, lines duplicated,
 * dropped and swapped, numbers made huge, and hostile fragments spliced in
 * (braces, quotes, semicolons, newlines, YAML anchors, unicode). fast-check
 * generates the edit lists, so a failure shrinks to the fewest edits and
 * replays from the seed.
 */
import fc from "fast-check";

/** Fragments that mean something to YAML, keepalived.conf or nginx, or that break naive code. */
export const HOSTILE_FRAGMENTS: readonly string[] = [
  "{",
  "}",
  "{}",
  '"',
  "'",
  ";",
  ":",
  ": ",
  "- ",
  "[",
  "]",
  ",",
  "#",
  "!",
  "\\",
  "\\\n",
  "=",
  "\n",
  "\r",
  "\r\n",
  "\t",
  "\0",
  "\x7f",
  "\u0085",
  "\u2028",
  "\ufeff",
  "\u202e",
  "\ud800",
  "é",
  "你好",
  "🔥",
  "İ",
  "99999999999999999999999",
  "1e309",
  "-1",
  "0",
  "-0",
  "4294967296",
  "18446744073709551616",
  "NaN",
  "0x10",
  "1.5",
  "255.255.255.255",
  "null",
  "~",
  "true",
  "yes",
  "---",
  "...",
  "%YAML 1.1\n",
  "!!str ",
  "!!binary ",
  "!!js/function ",
  "? ",
  "|\n",
  ">\n",
  "&a ",
  "*a",
  "<<: *a\n",
  "&a [1, *a]",
  "include /etc/shadow;",
  "}\nupstream evil {\n",
  "$(reboot)",
  "`id`",
  "../../etc/passwd",
  "%s%n",
  "${remote_addr}",
  "[::1]:80",
  "256.256.256.256",
  "198.18.0.100/33",
  "lo:0",
  "__proto__",
  "constructor",
  "x".repeat(300),
  " ".repeat(64),
];

export type Edit =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "insert"; at: number; text: string }
  | { kind: "delete"; at: number; length: number }
  | { kind: "duplicateLine"; line: number; times: number }
  | { kind: "dropLine"; line: number }
  | { kind: "swapLines"; a: number; b: number }
  | { kind: "number"; nth: number; value: string };

const hugeNumber = fc.oneof(
  fc.constantFrom("0", "-1", "255", "256", "65536", "4294967296", "9007199254740993", "1e400", "-99999999999999999999", "0.0000001"),
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
);

/** Text to splice in: a hostile fragment, or a short random string of any code points. */
export const fragment: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_FRAGMENTS) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
);

export const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), text: fragment }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant("duplicateLine" as const), line: fc.nat(), times: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ kind: fc.constant("dropLine" as const), line: fc.nat() }),
  fc.record({ kind: fc.constant("swapLines" as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ kind: fc.constant("number" as const), nth: fc.nat(), value: hugeNumber }),
);

function applyEdit(text: string, e: Edit): string {
  const at = (n: number) => (text.length === 0 ? 0 : n % (text.length + 1));
  const lines = text.split("\n");
  const line = (n: number) => n % lines.length;
  switch (e.kind) {
    case "flip": {
      if (text.length === 0) return text;
      const i = e.at % text.length;
      return text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) ^ (1 << e.bit)) + text.slice(i + 1);
    }
    case "insert":
      return text.slice(0, at(e.at)) + e.text + text.slice(at(e.at));
    case "delete":
      return text.slice(0, at(e.at)) + text.slice(at(e.at) + e.length);
    case "duplicateLine": {
      const i = line(e.line);
      return [...lines.slice(0, i + 1), ...Array<string>(e.times).fill(lines[i]), ...lines.slice(i + 1)].join("\n");
    }
    case "dropLine":
      return lines.filter((_, i) => i !== line(e.line)).join("\n");
    case "swapLines": {
      const copy = [...lines];
      const [a, b] = [line(e.a), line(e.b)];
      [copy[a], copy[b]] = [copy[b], copy[a]];
      return copy.join("\n");
    }
    case "number": {
      const numbers = [...text.matchAll(/\d+/g)];
      if (numbers.length === 0) return text;
      const m = numbers[e.nth % numbers.length];
      return text.slice(0, m.index) + e.value + text.slice(m.index + m[0].length);
    }
  }
}

export function applyEdits(text: string, edits: readonly Edit[]): string {
  return edits.reduce(applyEdit, text);
}

/** One of `texts` with 1..maxEdits edits applied. */
export function mutatedText(texts: readonly string[], maxEdits = 6): fc.Arbitrary<string> {
  return fc.tuple(fc.constantFrom(...texts), fc.array(edit, { minLength: 1, maxLength: maxEdits })).map(([t, edits]) => applyEdits(t, edits));
}

/** Random text: any code points, or lines built from hostile fragments and words. */
export const randomText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: "binary", maxLength: 400 }),
  fc
    .array(fc.oneof(fragment, fc.constantFrom("a", "b:", "vrrp_instance", "upstream", "server", "groups", "name", "1", " ")), { maxLength: 80 })
    .map((parts) => parts.join("")),
);

/** Values that stress a schema when put where any field was. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    null,
    true,
    false,
    0,
    -1,
    1.5,
    255,
    256,
    65536,
    2 ** 53 + 1,
    -(2 ** 63),
    1e308,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    "",
    " ",
    "0s",
    "-1ms",
    "1e9h",
    "99999999999999999999ms",
    "\n",
    "a;b",
    "x".repeat(5000),
    [],
    {},
    [null],
    { a: 1 },
  ),
  fc.constantFrom(...HOSTILE_FRAGMENTS),
  fc.integer(),
  fc.double(),
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 8 })), { maxLength: 4 }),
  fc.dictionary(fc.constantFrom("name", "node", "priority", "address", "interface", "x", "weight"), fc.oneof(fc.integer(), fc.string({ maxLength: 8 })), {
    maxKeys: 3,
  }),
);

type Json = unknown;

/** Every path to a value inside `value` (objects and arrays), the root excluded. */
export function pathsOf(value: Json, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (Array.isArray(value)) return value.flatMap((v, i) => [[...prefix, i], ...pathsOf(v, [...prefix, i])]);
  if (value !== null && typeof value === "object") return Object.entries(value).flatMap(([k, v]) => [[...prefix, k], ...pathsOf(v, [...prefix, k])]);
  return [];
}

/** Values that are each valid somewhere, so edited configs often stay valid and the cross-field rules get tested. */
export const plausibleValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    "10ms",
    "20ms",
    "50ms",
    "100ms",
    "150ms",
    "200ms",
    "500ms",
    "1s",
    "2s",
    "3",
    "0s",
    0,
    1,
    2,
    3,
    5,
    90,
    100,
    253,
    254,
    -20,
    -253,
    true,
    false,
  ),
  fc.constantFrom<unknown>(
    "198.18.0.1:80",
    "198.18.0.21:10016",
    "198.18.0.100/24",
    "198.18.0.101",
    "lb1",
    "lb2",
    "lb3",
    "VI_1",
    "VI_2",
    "eth0",
    "/aaa",
    "hash",
    "ip_hash",
    "least_conn",
    "$remote_addr",
    "200-299",
    "http",
    "tcp",
    "external",
    "child",
  ),
  fc.integer({ min: -300, max: 70_000 }),
);

export type StructEdit =
  | { kind: "set" | "setLeaf"; path: number; value: unknown }
  | { kind: "delete"; path: number }
  | { kind: "addKey"; path: number; key: string; value: unknown };

/** Plausible values put on leaves only: the shape stays, the values and their combinations change. */
export const leafEdit: fc.Arbitrary<StructEdit> = fc.record({ kind: fc.constant("setLeaf" as const), path: fc.nat(), value: fc.nat() });

/** Values of the same kind as `old` (a duration for a duration, an address for an address); `pick` chooses. */
function similar(old: unknown, pick: number): unknown {
  const of = (xs: readonly unknown[]) => xs[pick % xs.length];
  if (typeof old === "boolean") return !old;
  if (typeof old === "number") return of([0, 1, 2, 3, 5, 20, 90, 99, 100, 101, 253, 254, 255, -1, -20, -253, -254, 1000, 1001, 65535, 65536]);
  if (typeof old !== "string") return of([null, 0, ""]);
  if (/^\d+(\.\d+)?\s*(ms|s|m|h)$/.test(old))
    return of(["0s", "5ms", "10ms", "20ms", "50ms", "100ms", "150ms", "200ms", "300ms", "500ms", "999ms", "1s", "2s", "5s", "60s", "1m", "2h"]);
  if (/^[\d.]+\/\d+$|^\d+\.\d+\.\d+\.\d+$/.test(old))
    return of([
      "198.18.0.100/24",
      "198.18.0.101",
      "198.18.0.100/32",
      "198.18.0.100/33",
      "198.18.0.100/0",
      "10.0.0.1/8",
      "::1/128",
      "2001:db8::100/64",
      "2001:DB8::0100/64",
      "fd00::1",
      "2001:db8::100/129",
      "fe80::1/64",
      "ff02::1",
    ]);
  if (/:\d+$/.test(old))
    return of(["198.18.0.1:80", "198.18.0.21:10016", "198.18.0.22:10016", "[::1]:80", "b1.lab:65535", "198.18.0.21:0", "198.18.0.21:65536"]);
  return of([
    "lb1",
    "lb2",
    "lb3",
    "VI_1",
    "VI_2",
    "eth0",
    "lan0:vip",
    "/aaa",
    "/etc/x",
    "least_conn",
    "ip_hash",
    "hash",
    "round_robin",
    "$remote_addr",
    "external",
    "child",
    "http",
    "tcp",
    "200-299",
  ]);
}

export const structEdit: fc.Arbitrary<StructEdit> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("set" as const), path: fc.nat(), value: hostileValue }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("set" as const), path: fc.nat(), value: plausibleValue }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("delete" as const), path: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("addKey" as const),
      path: fc.nat(),
      key: fc.constantFrom("x", "name", "weight", "priority", "__proto__", "tls", "insecure", "backup"),
      value: hostileValue,
    }),
  },
);

/** A deep copy of `value` with the edits applied at paths chosen by index (so they shrink). */
export function applyStructEdits(value: Json, edits: readonly StructEdit[]): Json {
  const root = structuredClone(value) as Record<string | number, unknown>;
  for (const e of edits) {
    const all = pathsOf(root);
    const leaves = all.filter((p) => {
      const v = p.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], root);
      return v === null || typeof v !== "object";
    });
    const paths = e.kind === "setLeaf" ? leaves : all;
    if (paths.length === 0) break;
    const path = paths[e.path % paths.length];
    const parent = path.slice(0, -1).reduce<Record<string | number, unknown>>((o, k) => o[k] as Record<string | number, unknown>, root);
    const key = path[path.length - 1];
    if (e.kind === "delete") {
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete parent[key];
    } else if (e.kind === "addKey") {
      const target = parent[key];
      if (target !== null && typeof target === "object" && !Array.isArray(target))
        Object.defineProperty(target, e.key, { value: e.value, enumerable: true, configurable: true, writable: true });
    } else if (e.kind === "setLeaf") {
      parent[key] = similar(parent[key], e.value as number);
    } else {
      parent[key] = e.value;
    }
  }
  return root;
}
