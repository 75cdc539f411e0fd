// Host and Origin validation against DNS rebinding: a web page on evil.example that resolves to
// 127.0.0.1 must not be able to drive a local MCP server through the victim's browser.
export interface OriginPolicy {
  /** Allowed Host values (`name` or `name:port`); `*` allows any. */
  hosts: string[];
  /** Allowed Origin values (`scheme://name[:port]` or a bare host name); `*` allows any. */
  origins: string[];
}

const LOCAL_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/** The safe default for a server people run on their own machine. */
export const LOCALHOST_POLICY: OriginPolicy = { hosts: LOCAL_NAMES, origins: LOCAL_NAMES };
/** For deployments behind their own domain, where rebinding to localhost is not a concern. */
export const OPEN_POLICY: OriginPolicy = { hosts: ['*'], origins: ['*'] };

function hostName(host: string): string {
  const match = /^(\[[^\]]*\]|[^:]*)(?::\d+)?$/.exec(host.trim().toLowerCase());
  return match?.[1] ?? host;
}

function allowedHost(host: string, allowed: string[]): boolean {
  const lower = host.toLowerCase();
  return allowed.some((entry) => entry === '*' || entry === lower || entry === hostName(lower));
}

function allowedOrigin(origin: string, allowed: string[]): boolean {
  if (allowed.includes('*')) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  const lower = origin.toLowerCase();
  return allowed.some((entry) => entry === lower || entry === url.hostname || entry === url.host || entry === `[${url.hostname}]`);
}

/** Returns a reason when the request must be refused, undefined when it may pass. */
export function checkOrigin(request: Request, policy: OriginPolicy): string | undefined {
  const host = request.headers.get('host') ?? new URL(request.url).host;
  if (!allowedHost(host, policy.hosts)) return `Host "${host}" is not allowed`;
  const origin = request.headers.get('origin');
  if (origin !== null && !allowedOrigin(origin, policy.origins)) return `Origin "${origin}" is not allowed`;
  return undefined;
}
