/** The e2e tests' reading of tcpdump's neighbour advertisements (text captured in a scratch namespace). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseNeighbourAdverts } from "../e2e/helpers/drill.js";

test("tcpdump -e -n -v lines of unsolicited and solicited NAs are read with time, MAC, target and flags; other ICMPv6 is not", () => {
  const text = [
    "17:37:07.404169 06:50:d1:31:43:d5 > 33:33:00:00:00:01, ethertype IPv6 (0x86dd), length 86: (hlim 255, next-header ICMPv6 (58) payload length: 32) 2001:2::100 > ff02::1: [icmp6 sum ok] ICMP6, neighbor advertisement, length 32, tgt is 2001:2::100, Flags [override]",
    "\t  destination link-address option (2), length 8 (1): 06:50:d1:31:43:d5",
    "17:37:07.504001 06:50:d1:31:43:d5 > 4a:1b:00:00:00:50, ethertype IPv6 (0x86dd), length 86: (hlim 255, next-header ICMPv6 (58) payload length: 32) 2001:2::11 > 2001:2::50: [icmp6 sum ok] ICMP6, neighbor advertisement, length 32, tgt is 2001:2::11, Flags [solicited, override]",
    "17:37:08.000000 4a:1b:00:00:00:50 > 33:33:ff:00:01:00, ethertype IPv6 (0x86dd), length 86: (hlim 255) 2001:2::50 > ff02::1:ff00:100: [icmp6 sum ok] ICMP6, neighbor solicitation, length 32, who has 2001:2::100",
  ].join("\n");
  assert.deepEqual(parseNeighbourAdverts(text), [
    { atS: 17 * 3600 + 37 * 60 + 7.404169, mac: "06:50:d1:31:43:d5", target: "2001:2::100", flags: "override" },
    { atS: 17 * 3600 + 37 * 60 + 7.504001, mac: "06:50:d1:31:43:d5", target: "2001:2::11", flags: "solicited, override" },
  ]);
});
