/**
 * Pushed upstream configs for the nginx renderer fuzz: names, addresses, hash
 * keys and numbers drawn from valid values, mutated valid values and hostile
 * strings (`;`, braces, quotes, newlines, `#`, spaces, any code point), and
 * the grammar of what keepvip may write into an nginx file.
 */
import fc from "fast-check";
import type { UpstreamConfig } from "../../shared/gen/keepvip/v1/agent.js";
import { fragment, HOSTILE_FRAGMENTS, mutatedText } from "./fuzz-mutate.js";

const hostile = fc.oneof(
  fc.constantFrom(...HOSTILE_FRAGMENTS),
  fc.string({ unit: "binary", maxLength: 24 }),
  fragment.map((f) => `198.18.0.21:80${f}`),
  fragment.map((f) => `app${f}x`),
);
const address = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("198.18.0.21:10016", "198.18.0.22:10016", "[2001:db8::21]:80", "backend-1.lab:8080", "10.0.0.1:65535") },
  { weight: 2, arbitrary: fc.tuple(fc.nat(255), fc.nat(255), fc.integer({ min: 0, max: 70_000 })).map(([a, b, p]) => `198.${a}.${b}.1:${p}`) },
  { weight: 2, arbitrary: mutatedText(["198.18.0.21:10016", "[2001:db8::1]:443", "b1.example:80"], 2) },
  { weight: 2, arbitrary: hostile },
);
const upstreamName = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("my10016", "app", "a.b-c_d", "_x") },
  { weight: 2, arbitrary: mutatedText(["my10016"], 2) },
  { weight: 1, arbitrary: hostile },
);
const count = fc.oneof(
  { weight: 5, arbitrary: fc.nat(1100) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, Number.NaN, 2 ** 32, Number.POSITIVE_INFINITY, 86_401, 100_001) },
);
export const upstreamConfig: fc.Arbitrary<UpstreamConfig> = fc.record({
  version: fc.oneof(fc.nat(), fc.constantFrom(-1, 2 ** 53, 1.5)),
  upstreams: fc.array(
    fc.record({
      name: upstreamName,
      balance: fc.oneof({ weight: 5, arbitrary: fc.constantFrom("", "round_robin", "least_conn", "ip_hash", "hash") }, { weight: 1, arbitrary: hostile }),
      hashKey: fc.oneof(
        { weight: 4, arbitrary: fc.constant("") },
        { weight: 2, arbitrary: fc.constantFrom("$remote_addr", "$request_uri$http_x", "$a:/b.c-d") },
        { weight: 1, arbitrary: hostile },
      ),
      hashConsistent: fc.boolean(),
      keepalive: count,
      servers: fc.array(fc.record({ address, weight: count, maxFails: count, failTimeoutS: count, backup: fc.boolean(), down: fc.boolean() }), {
        maxLength: 4,
      }),
    }),
    { maxLength: 3 },
  ),
});

/** The only directives keepvip writes into an upstream file. */
export const ALLOWED_LINE =
  /^(?:upstream [A-Za-z0-9_.-]+ \{|server \S+(?: weight=\d+)? max_fails=\d+ fail_timeout=\d+s(?: backup)?(?: down)?;|least_conn;|ip_hash;|hash [$A-Za-z0-9_.:/-]+(?: consistent)?;|keepalive \d+;|\})$/;
/** The fields an UpstreamRenderError may name. */
export const FIELD =
  /^(?:version|upstreams\[\d+\]\.(?:name|servers|balance|hash_key|keepalive)|upstreams\[\d+\]\.servers\[\d+\]\.(?:address|weight|max_fails|fail_timeout_s|backup))$/;
