/**
 * The coordinator's side of mutual TLS, beyond what grpc-js does itself (a
 * handshake without a certificate, or with one another CA signed, never
 * completes):
 *  - the key, certificate and CA are reloaded (SIGHUP or a change of the files,
 *    shared/tls-material.ts) into the running listener: new connections get the
 *    new files, open ones (agent sessions) are not touched;
 *  - a connection whose certificate is an agent's for a node no group names is
 *    closed right after the handshake, before a byte of HTTP/2: on the control
 *    network a stolen or stale agent certificate reaches no RPC at all.
 */
import type { TLSSocket } from "node:tls";
import { experimental, type Server, type ServerCredentials } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { identityOf, type Identity } from "../../shared/identity.js";
import type { Result } from "../../shared/result.js";
import { ReloadableTls, type TlsPaths } from "../../shared/tls-material.js";

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/**
 * The listener's credentials over reloadable files. grpc-js takes rotating material
 * through a certificate provider: each listener is told the current files when it
 * starts and the new ones on a reload, and swaps its TLS context.
 */
export class ServerTls implements experimental.CertificateProvider {
  readonly credentials: ServerCredentials;
  readonly files: ReloadableTls;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  constructor(paths: TlsPaths, log: Logger) {
    this.files = new ReloadableTls(paths, log);
    this.files.onChange((m) => {
      // Both in one tick: no connection is accepted between the two updates.
      for (const l of this.identityListeners) l({ certificate: m.cert, privateKey: m.key });
      for (const l of this.caListeners) l({ caCertificate: m.ca });
    });
    // Client certificates are required and checked against the CA (rejectUnauthorized).
    this.credentials = experimental.createCertificateProviderServerCredentials(this, this, true);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    // grpc-js adds its listener before the server's watcher: told at once, the server would miss it.
    queueMicrotask(() => listener({ caCertificate: this.files.material.ca }));
  }
  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }
  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    queueMicrotask(() => listener({ certificate: this.files.material.cert, privateKey: this.files.material.key }));
  }
  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}

/**
 * Whether a connection whose handshake proved `id` may go on (pure). Admins and readers
 * always may (the admin API checks roles per call); an agent only for a node some group
 * names; a certificate without a keepvip identity is let through so the call can be
 * refused with the reason (the handshake already proved our CA issued it).
 */
export function admitPeer(id: Result<Identity>, nodes: ReadonlySet<string>): string | undefined {
  if (!id.ok) return undefined;
  if (id.value.role === "agent" && !nodes.has(id.value.name)) return `agent certificate for node ${id.value.name}, which no group in the config names`;
  return undefined;
}

/**
 * Closes, right after the handshake, every connection `admit` refuses, on each listener
 * grpc-js bound. grpc-js has no hook for this, so it reaches for its http2 servers; if a
 * grpc-js upgrade moves them this throws at start rather than silently admitting.
 */
export function gateConnections(server: Server, admit: (socket: TLSSocket) => string | undefined, onRefuse: (peer: string, reason: string) => void): void {
  const listeners = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(listeners instanceof Map) || listeners.size === 0)
    throw new Error("cannot gate TLS connections: grpc-js keeps its listeners elsewhere in this version");
  for (const h2 of listeners.keys() as IterableIterator<{ prependListener(event: "secureConnection", fn: (s: TLSSocket) => void): void }>) {
    h2.prependListener("secureConnection", (socket) => {
      const reason = admit(socket);
      if (reason === undefined) return;
      onRefuse(`${socket.remoteAddress}:${socket.remotePort}`, reason);
      socket.destroy();
    });
  }
}

/** The identity a TLS socket's peer proved (for admitPeer). */
export function socketIdentity(socket: TLSSocket): Result<Identity> {
  const cert = socket.getPeerCertificate();
  return identityOf(cert && Object.keys(cert).length > 0 ? cert : undefined);
}
