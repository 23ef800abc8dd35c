/**
 * The rise/fall state machine (keepalived vrrp_script semantics), run verdicts,
 * and nginx health as a track — pure tables.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { advanceTrack, checkRiseFall, INITIAL_TRACK, type RiseFall } from "../../agent/tracks/rise-fall.js";
import { judgeRun } from "../../agent/tracks/script-run.js";
import { nginxTrackResult, NGINX_TRACK } from "../../agent/tracks/nginx.js";
import type { RunResult } from "../../shared/exec/runner.js";

/** Feeds results ("+" success, "-" failure) and returns passing after each ("P"/"F"). */
function trace(results: string, policy: RiseFall): string {
  let s = INITIAL_TRACK;
  let out = "";
  for (const r of results) {
    s = advanceTrack(s, r === "+", policy);
    out += s.passing ? "P" : "F";
  }
  return out;
}

const cases: Array<[string, string, RiseFall, string]> = [
  ["the first success passes at once, whatever rise says", "+", { rise: 3, fall: 3 }, "P"],
  ["the first failure fails at once, whatever fall says", "-", { rise: 3, fall: 3 }, "F"],
  ["rise 1 / fall 1 follows every result (the seed's chk_nginx)", "+-+-", { rise: 1, fall: 1 }, "PFPF"],
  ["fall 2 needs two failures in a row", "+-+--", { rise: 1, fall: 2 }, "PPPPF"],
  ["a success resets the failure streak", "+-+-+-", { rise: 1, fall: 2 }, "PPPPPP"],
  ["rise 3 needs three successes in a row to come back", "-++-+++", { rise: 3, fall: 1 }, "FFFFFFP"],
  ["a failure resets the success streak", "-++-++", { rise: 3, fall: 1 }, "FFFFFF"],
  ["a long run of the current state changes nothing", "++++++", { rise: 2, fall: 2 }, "PPPPPP"],
  ["fall 3 then rise 2", "+---++", { rise: 2, fall: 3 }, "PPPFFP"],
];
for (const [name, results, policy, expected] of cases) {
  test(`rise/fall: ${name}`, () => assert.equal(trace(results, policy), expected));
}

test("rise/fall: before any result a track is unsettled and not passing", () => {
  assert.deepEqual(INITIAL_TRACK, { passing: false, settled: false, streak: 0 });
});

test("rise/fall: a policy changed mid-streak applies from the next result", () => {
  let s = advanceTrack(INITIAL_TRACK, false, { rise: 3, fall: 1 });
  s = advanceTrack(s, true, { rise: 3, fall: 1 });
  s = advanceTrack(s, true, { rise: 2, fall: 1 });
  assert.equal(s.passing, true, "the streak of 2 meets the new rise of 2");
});

test("rise/fall: values the coordinator should never send are refused", () => {
  assert.equal(checkRiseFall({ rise: 2, fall: 3 }), undefined);
  assert.match(checkRiseFall({ rise: 0, fall: 3 }) ?? "", /rise must be an integer 1\.\.100, got 0/);
  assert.match(checkRiseFall({ rise: 1, fall: 101 }) ?? "", /fall must be/);
});

function result(extra: Partial<RunResult>): RunResult {
  return { argv: ["/etc/keepvip/nginx_check.sh"], exitCode: 0, stdout: "", stderr: "", timedOut: false, spawnError: "", signal: "", durationMs: 5, ...extra };
}

const verdicts: Array<[string, Partial<RunResult>, boolean, string]> = [
  ["exit 0 passes, detail is the last output line", { stdout: "1\nnginx ok\n" }, true, "nginx ok"],
  ["exit 0 with no output", {}, true, "exit 0"],
  ["a non-zero exit fails with the last stderr line", { exitCode: 1, stderr: "warn\nnginx is down" }, false, "exit code 1: nginx is down"],
  ["a non-zero exit without stderr uses stdout", { exitCode: 2, stdout: "0" }, false, "exit code 2: 0"],
  ["a timeout fails and says it was killed", { exitCode: -1, timedOut: true, signal: "SIGKILL" }, false, "timed out after 2000ms (killed)"],
  ["a missing program fails with the reason", { exitCode: -1, spawnError: "ENOENT" }, false, "cannot run /etc/keepvip/nginx_check.sh: ENOENT"],
  ["a signal fails", { exitCode: -1, signal: "SIGSEGV" }, false, "killed by SIGSEGV"],
];
for (const [name, extra, ok, detail] of verdicts) {
  test(`run verdict: ${name}`, () => {
    const v = judgeRun(result(extra), 2000);
    assert.equal(v.ok, ok);
    assert.equal(v.detail, detail);
  });
}

test("run verdict: a huge output line is cut to 200 characters", () => {
  assert.equal(judgeRun(result({ stdout: "x".repeat(5000) }), 2000).detail.length, 200);
});

const nginxStates: Array<["running" | "starting" | "down" | "stopped", boolean]> = [
  ["running", true],
  ["starting", true], // the immediate restart after a death: F4 must not move the VIP
  ["down", false], // the restart failed: F5 releases at once
  ["stopped", false],
];
for (const [state, passing] of nginxStates) {
  test(`nginx as a track: ${state} is ${passing ? "passing" : "failing"}`, () => {
    const r = nginxTrackResult({ state, detail: "nginx master 42" });
    assert.deepEqual(r, { name: NGINX_TRACK, passing, detail: `${state}: nginx master 42` });
  });
}
