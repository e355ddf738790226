// A local relay that gives the native stack's large requests a socket with Nagle off.
//
// Deno's fetch connects with TCP_NODELAY off and has no option to turn it on (until
// denoland/deno#35581). Against grpc-go, whose flow-control window is 64 KiB, a request body
// that spans several windows leaves in several writes, and each write after the first waits
// for the engine's delayed ACK: about 40 ms per window (a 200 KB request took 140 ms where the
// node:http2 stack took 5 ms). `Deno.createHttpClient` can send its connections through a Unix
// socket instead (`proxy: { transport: "unix" }`); a Unix socket has no Nagle, and on the far
// side of it this relay opens the real TCP connection with `setNoDelay(true)` and copies bytes
// both ways. Deno speaks cleartext HTTP/2 over such a socket even for an https: URL, so for a
// TLS engine the relay makes the TLS connection itself (same roots, same server name, ALPN h2)
// on top of its no-delay socket; what crosses the Unix socket, inside a directory only this
// user can open, is cleartext. Mutual TLS is not relayed (Deno's `startTls` takes no client
// certificate).
//
// It needs Unix sockets, read/write permission on /tmp and net permission for the socket (which
// `--allow-net` with no list, or `-A`, gives: Deno grants Unix sockets by exact path only, and
// the path is new each time). Where any is missing (Windows, Deno Deploy, a narrow permission
// set) `openNoDelayRelay` returns undefined and large requests go out directly, paying the stall.

/** A relay and the HTTP client that goes through it. */
export interface NoDelayRelay {
  /** Sends its connections through the relay; give it `http:` URLs (the relay does the TLS). */
  readonly client: Deno.HttpClient;
  /** The relay's Unix socket; removed, with its directory, by `close()`. */
  readonly path: string;
  /** Closes the client, every relayed connection and the socket, and removes its directory. */
  close(): Promise<void>;
}

/**
 * Opens a relay to `hostname:port` and an HTTP/2 client through it, or `undefined` when this
 * runtime cannot (see the module comment).
 *
 * @param hostname The engine's host.
 * @param port The engine's port.
 * @param tls With TLS to the engine: extra root certificates (PEM), if any.
 * @returns The relay, or `undefined`.
 */
export function openNoDelayRelay(
  hostname: string,
  port: number,
  tls?: { caCerts?: string[] },
): NoDelayRelay | undefined {
  const base = "/tmp";
  let dir: string;
  let listener: Deno.Listener<Deno.UnixConn, Deno.UnixAddr>;
  try {
    if (Deno.build.os === "windows") return undefined;
    for (const name of ["read", "write"] as const) {
      // A query never prompts; asking for the permission itself might.
      if (Deno.permissions.querySync({ name, path: base }).state !== "granted") return undefined;
    }
    dir = Deno.makeTempDirSync({ dir: base, prefix: "hatchet-relay-" });
    const granted = Deno.permissions.querySync({ name: "net", host: `unix:${dir}/s` }).state;
    if (granted !== "granted") {
      Deno.removeSync(dir);
      return undefined;
    }
    listener = Deno.listen({ transport: "unix", path: `${dir}/s` });
  } catch {
    return undefined;
  }
  const conns = new Set<Deno.Conn>();
  const piping = new Set<Promise<void>>();
  const relay = async (local: Deno.UnixConn) => {
    conns.add(local);
    let remote: Deno.Conn | undefined;
    try {
      const tcp = await Deno.connect({ hostname, port });
      conns.add(tcp);
      tcp.setNoDelay(true);
      remote = tls === undefined ? tcp : await Deno.startTls(tcp, {
        hostname,
        caCerts: tls.caCerts,
        alpnProtocols: ["h2"],
      });
      conns.delete(tcp);
      conns.add(remote);
      // Either direction ending ends the other, as a TCP proxy does.
      await Promise.race([
        local.readable.pipeTo(remote.writable),
        remote.readable.pipeTo(local.writable),
      ]);
    } catch {
      // A refused or reset connection reaches fetch as the local socket closing.
    } finally {
      for (const conn of [local, remote]) {
        if (conn === undefined) continue;
        conns.delete(conn);
        try {
          conn.close();
        } catch {
          // Already closed by its stream.
        }
      }
    }
  };
  const accepting = (async () => {
    try {
      for await (const local of listener) {
        const p = relay(local);
        piping.add(p);
        p.finally(() => piping.delete(p));
      }
    } catch {
      // The listener was closed.
    }
  })();
  const client = Deno.createHttpClient({
    http1: false,
    http2: true,
    proxy: { transport: "unix", path: `${dir}/s` },
  });
  // A process that exits without close() (Deno.exit, an uncaught error) still removes the
  // directory; only a kill leaves it behind.
  const onUnload = () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // Already removed.
    }
  };
  globalThis.addEventListener("unload", onUnload);
  let closed: Promise<void> | undefined;
  return {
    client,
    path: `${dir}/s`,
    close(): Promise<void> {
      closed ??= (async () => {
        globalThis.removeEventListener("unload", onUnload);
        client.close();
        listener.close();
        for (const conn of conns) {
          try {
            conn.close();
          } catch {
            // Already closed.
          }
        }
        await accepting;
        await Promise.allSettled([...piping]);
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      })();
      return closed;
    },
  };
}
