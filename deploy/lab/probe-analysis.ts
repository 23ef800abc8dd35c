/**
 * What a prober run saw, in numbers: how many requests failed, the longest stretch without
 * service, and which backend answered how often. Pure.
 */

/** One request of the prober (one NDJSON line). */
export interface ProbeRecord {
  /** Sequence number (send order). */
  seq: number;
  /** When it was sent (epoch ms, Date.now()). */
  t: number;
  /** 200 with the backend's JSON body. */
  ok: boolean;
  /** Latency until the body arrived or the request failed (ms). */
  ms: number;
  /** server_ip of the backend that answered (ok only). */
  by?: string;
  /** Why it failed: "timeout", "ECONNREFUSED", "status 502", "bad body", … */
  err?: string;
  /** The URL, when the prober probes several. */
  url?: string;
}

/** A run of consecutive failed requests (in send order). */
export interface FailureRun {
  /** Send time of the first failed request. */
  startT: number;
  /** Send time of the next successful request, or (run at the end) last failure + interval. */
  endT: number;
  count: number;
  /** endT − startT: how long a client saw no service. */
  ms: number;
}

export interface ProbeSummary {
  total: number;
  ok: number;
  failed: number;
  /** server_ip → answers. */
  answeredBy: Record<string, number>;
  /** error → count. */
  errors: Record<string, number>;
  /** The longest FailureRun's ms (0 when nothing failed). */
  longestFailureMs: number;
  failureRuns: FailureRun[];
  firstT?: number;
  lastT?: number;
}

/** Parses NDJSON prober output; lines that are not records are skipped. */
export function parseProbeLines(text: string): ProbeRecord[] {
  const out: ProbeRecord[] = [];
  for (const line of text.split("\n")) {
    const r = parseProbeLine(line);
    if (r) out.push(r);
  }
  return out;
}

export function parseProbeLine(line: string): ProbeRecord | undefined {
  if (!line.trim().startsWith("{")) return undefined;
  try {
    const v = JSON.parse(line) as Partial<ProbeRecord>;
    return typeof v.seq === "number" && typeof v.t === "number" && typeof v.ok === "boolean" ? (v as ProbeRecord) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Summarises records (any order: they arrive in completion order). `intervalMs` is the
 * prober's send interval, used to close a failure run that lasts to the end of the run.
 */
export function analyzeProbes(records: readonly ProbeRecord[], intervalMs = 10): ProbeSummary {
  const sorted = [...records].sort((a, b) => a.seq - b.seq);
  const answeredBy: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const failureRuns: FailureRun[] = [];
  let ok = 0;
  let run: { startT: number; lastT: number; count: number } | undefined;
  for (const r of sorted) {
    if (r.ok) {
      ok++;
      if (r.by) answeredBy[r.by] = (answeredBy[r.by] ?? 0) + 1;
      if (run) {
        failureRuns.push({ startT: run.startT, endT: r.t, count: run.count, ms: r.t - run.startT });
        run = undefined;
      }
    } else {
      const key = r.err ?? "unknown";
      errors[key] = (errors[key] ?? 0) + 1;
      if (run) {
        run.count++;
        run.lastT = r.t;
      } else {
        run = { startT: r.t, lastT: r.t, count: 1 };
      }
    }
  }
  if (run) failureRuns.push({ startT: run.startT, endT: run.lastT + intervalMs, count: run.count, ms: run.lastT + intervalMs - run.startT });
  return {
    total: sorted.length,
    ok,
    failed: sorted.length - ok,
    answeredBy,
    errors,
    longestFailureMs: failureRuns.reduce((m, f) => Math.max(m, f.ms), 0),
    failureRuns,
    firstT: sorted[0]?.t,
    lastT: sorted[sorted.length - 1]?.t,
  };
}
