/**
 * The agent's process metrics: prom-client's defaults (CPU, memory, heap spaces, handles, file
 * descriptors, GC, Node's version) under their usual names, all but one. The event-loop delay
 * monitor is left out: it keeps a native timer of its own (4 wake-ups a second at the 250 ms
 * resolution the coordinator uses) and a high-resolution histogram of 360 KB, in a process whose
 * whole budget is a few wake-ups a second and 60 MB. The agent's timer wheel measures the same
 * thing on the wake-ups the agent has anyway: `keepvip_agent_timer_late_seconds` (agent/metrics.ts).
 */
import type { Registry } from "prom-client";
import gc from "prom-client/lib/metrics/gc.js";
import heapSizeAndUsed from "prom-client/lib/metrics/heapSizeAndUsed.js";
import heapSpacesSizeAndUsed from "prom-client/lib/metrics/heapSpacesSizeAndUsed.js";
import osMemoryHeap from "prom-client/lib/metrics/osMemoryHeap.js";
import processCpuTotal from "prom-client/lib/metrics/processCpuTotal.js";
import processHandles from "prom-client/lib/metrics/processHandles.js";
import processMaxFileDescriptors from "prom-client/lib/metrics/processMaxFileDescriptors.js";
import processOpenFileDescriptors from "prom-client/lib/metrics/processOpenFileDescriptors.js";
import processRequests from "prom-client/lib/metrics/processRequests.js";
import processResources from "prom-client/lib/metrics/processResources.js";
import processStartTime from "prom-client/lib/metrics/processStartTime.js";
import version from "prom-client/lib/metrics/version.js";

const COLLECTORS = [
  processCpuTotal,
  processStartTime,
  osMemoryHeap,
  processOpenFileDescriptors,
  processMaxFileDescriptors,
  processResources,
  processHandles,
  processRequests,
  heapSizeAndUsed,
  heapSpacesSizeAndUsed,
  version,
  gc,
];

/** Registers the process metrics on `registry`. */
export function collectProcessMetrics(registry: Registry): void {
  for (const collect of COLLECTORS) collect(registry, {});
}
