/**
 * Where this host puts a group's VIPs, from the agent config (pure): the
 * group's `interface`, `label` and `scope` (`default_interface` when the group
 * names no interface, or is not listed), and per address the overrides of
 * `groups.NAME.addresses` (keepalived: `virtual_ipaddress { 10.0.1.1/24 dev
 * eth1 label eth1:vip scope link }`). An address's field left out is the
 * group's; the group's label only while the address stays on the group's
 * interface, since `ip addr add` wants a label that names its device.
 */
import type { AgentConfig } from "../../shared/config/agent.js";
import { normalizeAddress, parseCidr } from "../../shared/config/net.js";
import type { VipBinding } from "./plan.js";

export type BindingsConfig = Pick<AgentConfig, "groups" | "default_interface">;

/** One place a VIP goes on this host. */
export interface Placement {
  interface: string;
  label?: string;
  scope?: string;
}

export type BindResult = { ok: true; vips: VipBinding[] } | { ok: false; error: string };

const own = <T>(record: Record<string, T> | undefined, key: string): T | undefined =>
  record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;

/** An `addresses` entry for a VIP: its key matched by value (an IPv6 key may be spelt another way). */
function addressEntry<T>(addresses: Record<string, T> | undefined, address: string): T | undefined {
  const exact = own(addresses, address);
  if (exact !== undefined || addresses === undefined) return exact;
  const want = normalizeAddress(address) ?? address;
  const key = Object.keys(addresses).find((k) => (normalizeAddress(k) ?? k) === want);
  return key === undefined ? undefined : addresses[key];
}

/** Where the group's VIPs go when their address is not listed; undefined: the config names no interface. */
export function groupPlacement(cfg: BindingsConfig, group: string): Placement | undefined {
  const g = own(cfg.groups, group);
  const iface = g?.interface ?? cfg.default_interface;
  return iface === undefined ? undefined : { interface: iface, label: g?.label, scope: g?.scope };
}

/** Where one VIP address of `group` goes here; undefined: the config names no interface for it. */
export function placementOf(cfg: BindingsConfig, group: string, address: string): Placement | undefined {
  const g = own(cfg.groups, group);
  const groupIface = g?.interface ?? cfg.default_interface;
  const entry = addressEntry(g?.addresses, address);
  if (!entry) return groupPlacement(cfg, group);
  const iface = entry.interface ?? groupIface;
  if (iface === undefined) return undefined;
  return {
    interface: iface,
    label: entry.label ?? (iface === groupIface ? g?.label : undefined),
    scope: entry.scope ?? g?.scope,
  };
}

/** The bindings of a group's VIPs (the coordinator's "ADDR/LEN" list) on this host, or why not. */
export function bindVips(cfg: BindingsConfig, group: string, vips: string[]): BindResult {
  const out: VipBinding[] = [];
  for (const v of vips) {
    const c = parseCidr(v);
    if (!c.ok) return { ok: false, error: `bad VIP from the coordinator: ${c.error.message}` };
    const { address, prefix, family } = c.value;
    const place = placementOf(cfg, group, address);
    if (!place) return { ok: false, error: `no interface for group ${group} in the agent config (groups.${group}.interface or default_interface)` };
    // IPv6 addresses have no labels: the group's label is for its IPv4 VIPs.
    out.push({ group, address, prefix, family, interface: place.interface, label: family === 4 ? place.label : undefined, scope: place.scope });
  }
  return { ok: true, vips: out };
}

/** Every place the config can put a VIP: each group's, each listed address's, and default_interface's. */
export function configuredPlacements(cfg: BindingsConfig): Placement[] {
  const out: Placement[] = [];
  for (const [group, g] of Object.entries(cfg.groups)) {
    const p = groupPlacement(cfg, group);
    if (p) out.push(p);
    for (const address of Object.keys(g.addresses ?? {})) {
      const a = placementOf(cfg, group, address);
      if (a) out.push(a);
    }
  }
  if (cfg.default_interface !== undefined) out.push({ interface: cfg.default_interface });
  return out;
}

/** The interfaces VIPs may go on here, once each, in config order. */
export function vipInterfaces(cfg: BindingsConfig): string[] {
  return [...new Set(configuredPlacements(cfg).map((p) => p.interface))];
}
