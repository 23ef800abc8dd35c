/** Units built from a small coordinator config, for the engine's pure functions. */
import { coordinatorConfigSchema, type CoordinatorConfig } from "../../shared/config/coordinator.js";
import { parseConfigText } from "../../shared/config/load.js";
import { buildUnits, type Unit } from "../../coordinator/cluster/units.js";

const group = (name: string, vips: string[], extra = "") => `
  - name: ${name}
    vips: [${vips.map((v) => `"${v}"`).join(", ")}]
    service: { port: 10016, path: /aaa }
    members:
      - { node: lb1, priority: 100, address: 198.18.0.11 }
      - { node: lb2, priority: 90, address: 198.18.0.12 }${extra}`;

/** A coordinator config with the given groups ("VI_1=198.18.0.100/24,198.18.0.101/24") and sync groups. */
export function config(groups: string[], syncGroups: Array<{ name: string; groups: string[] }> = []): CoordinatorConfig {
  const yaml = `
insecure: true
groups:${groups
    .map((g) => {
      const [name, vips] = g.split("=");
      return group(name, vips ? vips.split(",") : ["198.18.0.100/24"]);
    })
    .join("")}
${syncGroups.length > 0 ? `sync_groups:\n${syncGroups.map((s) => `  - { name: ${s.name}, groups: [${s.groups.join(", ")}] }`).join("\n")}` : ""}
`;
  return parseConfigText(coordinatorConfigSchema, yaml, "test.yaml");
}

export function units(groups: string[], syncGroups: Array<{ name: string; groups: string[] }> = []): Unit[] {
  return buildUnits(config(groups, syncGroups));
}

/** One sync unit "VI_1" of the groups VI_1 and VI_2. */
export function syncUnits(): Unit[] {
  return units(["VI_1=198.18.0.100/24", "VI_2=198.18.0.200/24"], [{ name: "VI_1", groups: ["VI_1", "VI_2"] }]);
}
