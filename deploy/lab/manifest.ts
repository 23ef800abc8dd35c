/**
 * What `up` built, written to lab.json so later verbs (`start`, `status`, `break-nginx`)
 * act on the same stack with the same options without being told again.
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { KeepvipBins } from "./paths.js";

export const STACKS = ["keepvip", "keepalived", "none"] as const;
/** keepvip = coordinator + agents (agents run nginx); keepalived = the seed's baseline; none = topology, backends, nginx. */
export type Stack = (typeof STACKS)[number];
export const TIMINGS = ["seed", "tuned"] as const;
/** The keepvip coordinator's timing: the seed-like defaults or lab-tuned fast ones. */
export type Timing = (typeof TIMINGS)[number];

export interface LabManifest {
  prefix: string;
  stack: Stack;
  timing: Timing;
  /** keepalived advert_int in seconds (1 = the seed; 0.1 / 0.01 need VRRPv3). */
  advertSec: number;
  /** nginx proxy_connect_timeout in ms (seed: 3000). */
  connectTimeoutMs: number;
  bins: KeepvipBins;
  /** `up --ha`: a 3-member etcd and three coordinator replicas (absent in a manifest of before: false). */
  ha?: boolean;
  /** `up --insecure`: plaintext gRPC and etcd, as before mutual TLS was the default (absent: mTLS). */
  insecure?: boolean;
  /** keepalived stack: how the IPv6 VIP is carried (configs.ts renderKeepalivedConf; absent: "excluded"). */
  keepalivedIpv6?: "excluded" | "vrrp3";
  /** ISO time `up` started. */
  createdAt: string;
}

export function writeManifest(file: string, m: LabManifest): void {
  writeFileSync(file, `${JSON.stringify(m, null, 2)}\n`);
}

/** The manifest, or undefined when the lab was never (or is no longer) up. */
export function readManifest(file: string): LabManifest | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as LabManifest;
  } catch {
    return undefined;
  }
}
