/**
 * The lab for tests and benchmarks, in one import. Every function takes the lab's prefix
 * (undefined = "kv") and works on `${KEEPVIP_LAB_DIR:-/tmp/keepvip-lab}/PREFIX`.
 */
import { labRunner, mustPrefix } from "./lab.js";
import { vipHolderHosts } from "./netns.js";
import { hostPrograms, labPaths as pathsOf, type LabPaths } from "./paths.js";

export { labUp, labDown, waitEtcdServing, type UpOptions, type UpReport, type DownReport } from "./lab.js";
export { collectStatus as labStatus, formatStatus, stackStatusHooks, type LabStatus, type PortStatus, type StackStatusHook } from "./status.js";
export {
  startLabProcess as startProcess,
  stopLabProcess as stopProcess,
  killLabProcess as killProcess,
  restartLabProcess as restartProcess,
  setLink,
  partition,
  heal,
  breakNginx,
  fixNginx,
  type PartitionState,
} from "./drills.js";
export {
  startPoolClient,
  startProber,
  startVipSampler,
  type PoolClientHandle,
  type PoolClientOptions,
  type ProbeOptions,
  type ProberHandle,
  type VipSamplerOptions,
  type VipSamplerHandle,
} from "./observers.js";
export { analyzeProbes, parseProbeLines, type ProbeRecord, type ProbeSummary, type FailureRun } from "./probe-analysis.js";
export { summarizeVipEvents, type VipEvent, type VipSummary, type Interval } from "./vip-timeline.js";
export { backendBody } from "./backend.js";
export type { LabManifest, Stack, Timing } from "./manifest.js";
export type { LabPaths } from "./paths.js";
export type { LinkState, PortState } from "./netns.js";
export type { ProcessStatus } from "./processes.js";
export {
  ADDRESSES,
  VIP,
  SERVICE_PORT,
  HOSTS,
  HA_HOSTS,
  LB_HOSTS,
  REPLICA_HOSTS,
  ETCD_HOSTS,
  hostNs,
  type Host,
  type LbHost,
  type Net,
} from "./topology.js";

/** Which LB hosts ("lb1", "lb2") have 198.18.0.100 on lan0 right now. */
export async function vipHolders(prefix?: string): Promise<string[]> {
  return vipHolderHosts(labRunner(), mustPrefix(prefix), hostPrograms().ip);
}

/** The lab's files (pid files, logs, configs). */
export function labPaths(prefix?: string): LabPaths {
  return pathsOf(mustPrefix(prefix));
}
