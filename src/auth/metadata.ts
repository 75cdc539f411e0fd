// What the MCP authorization spec asks of a protected resource: OAuth protected resource metadata
// (RFC 9728) at the well-known URL, and a `WWW-Authenticate: Bearer` challenge that points to it,
// so that clients can discover the authorization server on their own.
import { configProblem } from '../config/errors.js';
import type { Config } from '../config/schema.js';

export const METADATA_PATH = '/.well-known/oauth-protected-resource';

/** Checks `auth.resource_url` once at start-up; '' when not configured. */
export function checkResourceUrl(value: string): string {
  if (!value) return '';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw configProblem('auth.resource_url: expected the public URL of the MCP endpoint, e.g. "https://mcp.example.com/mcp"');
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.hash || url.search) {
    throw configProblem('auth.resource_url: expected an http(s) URL without query or fragment, e.g. "https://mcp.example.com/mcp"');
  }
  return value;
}

/** The resource identifier: the configured one, or this server's /mcp as the request reached it. */
export function resourceOf(configured: string, request: Request): string {
  return configured || `${new URL(request.url).origin}/mcp`;
}

/** RFC 9728 section 3.1: the well-known segment goes between the host and the resource's path. */
export function metadataUrlOf(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  return `${url.origin}${METADATA_PATH}${path}`;
}

export function authorizationServers(auth: Config['auth']): string[] {
  if (auth.authorization_servers.length > 0) return auth.authorization_servers;
  return auth.jwt.issuer ? [auth.jwt.issuer] : [];
}

/**
 * The metadata document for a request to `METADATA_PATH` + `suffix`; undefined when the suffix
 * names no resource of this server. Public and cacheable: it holds nothing secret.
 */
export function metadataResponse(auth: Config['auth'], request: Request, suffix: string): Response | undefined {
  const resource = resourceOf(auth.resource_url, request);
  const path = new URL(resource).pathname.replace(/\/$/, '');
  if (suffix !== '' && suffix.replace(/\/$/, '') !== path) return undefined;
  const document = {
    resource,
    authorization_servers: authorizationServers(auth),
    bearer_methods_supported: ['header'],
    resource_name: 'mcp-baton',
  };
  return new Response(JSON.stringify(document), {
    status: 200,
    headers: {
      'Content-Type': 'application/json',
      'Cache-Control': 'public, max-age=3600',
      // Browser-based clients (the MCP inspector, web apps) read it cross-origin.
      'Access-Control-Allow-Origin': '*',
    },
  });
}

export interface Challenge {
  /** RFC 6750 error code; omitted when the request carried no credential at all. */
  error?: 'invalid_token' | 'invalid_request';
  description?: string;
  /** URL of the protected resource metadata (JWT mode). */
  resourceMetadata?: string;
}

/** A `WWW-Authenticate` value. Parameters are fixed texts and URLs we made, never client input. */
export function bearerChallenge(challenge: Challenge): string {
  const params: string[] = [];
  if (challenge.error) params.push(`error="${challenge.error}"`);
  if (challenge.description) params.push(`error_description="${challenge.description.replace(/["\\]/g, '')}"`);
  if (challenge.resourceMetadata) params.push(`resource_metadata="${challenge.resourceMetadata}"`);
  return params.length > 0 ? `Bearer ${params.join(', ')}` : 'Bearer';
}
