/**
 * TLS to a coordinator (or etcd) dialled by IP address, without Node's DEP0123 warning. RFC 6066
 * forbids an IP address as the TLS server name (SNI), yet grpc-js sends the target's host as
 * one. For an IP target the channel sends a fixed name that can never be real instead (servers
 * ignore SNI here), and the server's certificate is still checked against the dialled IP
 * itself: its IP SANs must name that address, exactly as before. A host name is left as it is.
 */
import { isIP } from "node:net";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { credentials, type ChannelCredentials, type ChannelOptions } from "@grpc/grpc-js";
import { parseHostPort } from "./config/net.js";

/** The server name sent when the target is an IP literal (.invalid is reserved: never a real name). */
export const IP_TARGET_SERVERNAME = "keepvip-coordinator.invalid";

/** What a gRPC client needs to reach one address. */
export interface Channel {
  credentials: ChannelCredentials;
  options: ChannelOptions;
}

/** TLS material, PEM; key and cert present for mutual TLS. */
export interface TlsFiles {
  ca: Buffer;
  key?: Buffer;
  cert?: Buffer;
}

/** TLS to `address` ("host:port", "[v6]:port"), verified against the dialled IP when it is one. */
export function tlsChannel(address: string, tls: TlsFiles): Channel {
  const parsed = parseHostPort(address);
  const host = parsed.ok ? parsed.value.host : "";
  const key = tls.key ?? null;
  const cert = tls.cert ?? null;
  if (isIP(host) === 0) return { credentials: credentials.createSsl(tls.ca, key, cert), options: {} };
  return {
    credentials: credentials.createSsl(tls.ca, key, cert, {
      checkServerIdentity: (_sent: string, peer: PeerCertificate) => checkServerIdentity(host, peer),
    }),
    options: { "grpc.ssl_target_name_override": IP_TARGET_SERVERNAME },
  };
}

/** A plaintext channel (insecure: true / --insecure). */
export function insecureChannel(): Channel {
  return { credentials: credentials.createInsecure(), options: {} };
}
