// Test-only certificates: a throwaway CA, a server leaf for 127.0.0.1/localhost and a client leaf
// for mTLS, made with the machine's `openssl` so no key material is committed.

import { createCa, signLeaf } from "../../testing/_tls.ts";

/** PEM text and file paths of a CA, a server certificate and a client certificate. */
export interface TestCerts extends AsyncDisposable {
  /** The directory holding every file below; removed by dispose(). */
  readonly dir: string;
  /** CA certificate (PEM) and its path. */
  readonly caCert: string;
  readonly caCertFile: string;
  /** Server leaf (CN=localhost, SAN localhost + 127.0.0.1 + extra names), signed by the CA. */
  readonly serverCert: string;
  readonly serverCertFile: string;
  readonly serverKey: string;
  readonly serverKeyFile: string;
  /** Client leaf for mTLS (CN=test-client), signed by the CA. */
  readonly clientCert: string;
  readonly clientCertFile: string;
  readonly clientKey: string;
  readonly clientKeyFile: string;
}

/**
 * Makes a fresh CA and two CA-signed leaves in a temporary directory.
 *
 * @param options `serverNames`: extra DNS names for the server leaf.
 */
export async function createTestCerts(options?: { serverNames?: string[] }): Promise<TestCerts> {
  const dir = await Deno.makeTempDir({ prefix: "hatchet_tls_" });
  await createCa(dir, "/CN=hatchet-deno test CA");
  const dns = ["localhost", ...(options?.serverNames ?? [])].map((n) => `DNS:${n}`);
  await signLeaf(
    dir,
    "server",
    "/CN=localhost",
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      `subjectAltName=${[...dns, "IP:127.0.0.1"].join(",")}`,
      "",
    ].join("\n"),
  );
  await signLeaf(
    dir,
    "client",
    "/CN=test-client",
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=clientAuth",
      "",
    ].join("\n"),
  );
  const read = (name: string) => Deno.readTextFile(`${dir}/${name}`);
  return {
    dir,
    caCert: await read("ca.pem"),
    caCertFile: `${dir}/ca.pem`,
    serverCert: await read("server.pem"),
    serverCertFile: `${dir}/server.pem`,
    serverKey: await read("server.key"),
    serverKeyFile: `${dir}/server.key`,
    clientCert: await read("client.pem"),
    clientCertFile: `${dir}/client.pem`,
    clientKey: await read("client.key"),
    clientKeyFile: `${dir}/client.key`,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}
