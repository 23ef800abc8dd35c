/**
 * What grpcurl and health checkers see on the coordinator's gRPC port: server
 * reflection lists keepvip's services and describes them from the shipped
 * .proto files; the standard health service says SERVING. The clients here are
 * generic (proto-loader over the reflection and health protos), as grpcurl is.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { credentials, loadPackageDefinition, type Client, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { protoPath as healthProtoPath } from "grpc-health-check";
import { HEALTH_SERVICE, KEEPVIP_SERVICES, protoRoot } from "../../coordinator/grpc/introspection.js";
import { clusterYaml, removeDir, startCoordinator, type TestCoordinator } from "./helpers/coordinator.js";

const require = createRequire(import.meta.url);
// protobufjs's descriptor extension is CommonJS only.
const { FileDescriptorProto } = require("protobufjs/ext/descriptor") as { FileDescriptorProto: { decode(b: Uint8Array): unknown } };
const reflectionProto = join(dirname(require.resolve("@grpc/reflection")), "../proto/grpc/reflection/v1/reflection.proto");
const options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

type Ctor = new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => Client & Record<string, (...args: unknown[]) => unknown>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
// biome-ignore lint/suspicious/noExplicitAny: walks a loaded package definition by name
const pkg = (file: string, path: string[]): Ctor => path.reduce((o: any, k) => o[k], loadPackageDefinition(loadSync(file, options)));

interface ReflectionResponse {
  list_services_response?: { service: Array<{ name: string }> };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

let coord: TestCoordinator;
const clients: Client[] = [];

before(async () => {
  coord = await startCoordinator(clusterYaml());
});

after(async () => {
  for (const c of clients) c.close();
  await coord?.stop();
  if (coord) removeDir(coord.stateDir);
});

/** One request on a ServerReflectionInfo stream, as grpcurl sends it. */
async function reflect(request: Record<string, unknown>): Promise<ReflectionResponse> {
  const Reflection = pkg(reflectionProto, ["grpc", "reflection", "v1", "ServerReflection"]);
  const client = new Reflection(coord.address, credentials.createInsecure());
  clients.push(client);
  const stream = client.ServerReflectionInfo() as ClientDuplexStream<unknown, ReflectionResponse>;
  const reply = new Promise<ReflectionResponse>((resolve, reject) => {
    stream.once("data", resolve);
    stream.once("error", reject);
  });
  stream.write({ host: "", ...request });
  stream.end();
  return reply;
}

test("reflection lists keepvip's services and the health service (grpcurl list)", async () => {
  const r = await reflect({ list_services: "*" });
  const names = (r.list_services_response?.service ?? []).map((s) => s.name).sort();
  for (const s of [...KEEPVIP_SERVICES, HEALTH_SERVICE]) assert.ok(names.includes(s), `${s} in ${names.join(", ")}`);
});

test("reflection describes the Agent service's methods from the shipped .proto (grpcurl describe)", async () => {
  const r = await reflect({ file_containing_symbol: "keepvip.v1.Agent" });
  assert.equal(r.error_response, undefined, r.error_response?.error_message);
  const files = (r.file_descriptor_response?.file_descriptor_proto ?? []).map(
    (b) => FileDescriptorProto.decode(b) as unknown as { package: string; service: Array<{ name: string; method: Array<{ name: string }> }> },
  );
  const agent = files.flatMap((f) => f.service.map((s) => ({ pkg: f.package, ...s }))).find((s) => s.pkg === "keepvip.v1" && s.name === "Agent");
  assert.ok(agent, "a file descriptor with service keepvip.v1.Agent");
  assert.deepEqual(
    agent.method.map((m) => m.name),
    ["Session"],
  );
});

test("an unknown symbol is a NOT_FOUND error, as grpcurl expects", async () => {
  const r = await reflect({ file_containing_symbol: "keepvip.v1.Nope" });
  assert.equal(r.error_response?.error_code, 5);
});

test("the health service says SERVING for the server and for each keepvip service; unknown services are NOT_FOUND", async () => {
  const Health = pkg(healthProtoPath, ["grpc", "health", "v1", "Health"]);
  const client = new Health(coord.address, credentials.createInsecure());
  clients.push(client);
  const check = (service: string) =>
    new Promise<{ status: string }>((resolve, reject) => {
      client.Check({ service }, { deadline: Date.now() + 3000 }, (err: ServiceError | null, res: { status: string }) => (err ? reject(err) : resolve(res)));
    });
  for (const s of ["", ...KEEPVIP_SERVICES]) assert.equal((await check(s)).status, "SERVING", `service "${s}"`);
  await assert.rejects(check("keepvip.v1.Nope"), (err: ServiceError) => err.code === 5);
});

test("the .proto files are found from the sources and from dist/ (reflection needs them at run time)", () => {
  assert.equal(protoRoot(), join(process.cwd(), "proto"));
  assert.equal(protoRoot(join(process.cwd(), "dist/coordinator/grpc")), join(process.cwd(), "proto"));
  assert.throws(() => protoRoot("/"), /cannot find proto\/keepvip\/v1\/agent\.proto/);
});

test("a health watcher sees NOT_SERVING as soon as the coordinator starts shutting down", async () => {
  const own = await startCoordinator(clusterYaml());
  try {
    const Health = pkg(healthProtoPath, ["grpc", "health", "v1", "Health"]);
    const client = new Health(own.address, credentials.createInsecure());
    clients.push(client);
    const seen: string[] = [];
    const stream = client.Watch({ service: "" }) as NodeJS.EventEmitter;
    stream.on("data", (r: { status: string }) => seen.push(r.status));
    stream.on("error", () => undefined);
    for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(seen, ["SERVING"]);
    const done = own.server.shutdown(1000);
    for (let i = 0; i < 100 && !seen.includes("NOT_SERVING"); i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(seen, ["SERVING", "NOT_SERVING"]);
    await done;
  } finally {
    await own.engine.stop();
    removeDir(own.stateDir);
  }
});
