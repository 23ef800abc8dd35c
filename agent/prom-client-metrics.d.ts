/** prom-client's default collectors, one module each (CommonJS, untyped): `(registry, config) => void`. */
declare module "prom-client/lib/metrics/*.js" {
  import type { Registry } from "prom-client";
  const collect: (registry: Registry, config: Record<string, unknown>) => void;
  export default collect;
}
