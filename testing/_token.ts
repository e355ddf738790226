// The mock engine's API token: a JWT whose claims are the ones SDKs read without verifying it
// (hatchet-protocol.md §1.3). It is unsecured (`alg: none`): the engine only compares it whole.

function base64url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Claims the mock engine puts in its token. */
export interface TokenClaims {
  sub: string;
  grpc_broadcast_address: string;
  server_url: string;
}

/** Builds an unsecured JWT carrying `claims` plus the usual registered claims. */
export function makeToken(claims: TokenClaims, issuedAtMs: number): string {
  const iat = Math.floor(issuedAtMs / 1000);
  const header = base64url(JSON.stringify({ alg: "none", typ: "JWT" }));
  const body = base64url(JSON.stringify({
    ...claims,
    iss: claims.server_url,
    aud: [claims.server_url],
    iat,
    exp: iat + 10 * 365 * 24 * 3600,
    token_id: crypto.randomUUID(),
  }));
  return `${header}.${body}.`;
}
