-- The session's open (DatabaseSessionStore.open), which every request of a 2025 session runs, as a
-- function: sent as a statement over an unnamed protocol (Neon's HTTP endpoint, a pooler in
-- transaction mode) its common table expressions were planned again on every request, which cost
-- Postgres more than running them; PL/pgSQL keeps the plan per connection. One call finds the live
-- session, touches it only when the caller may use it and the stored touch is older than
-- p_granularity_ms, and returns it with what the store decides from: allowed, stale, the touch it
-- wrote (touched_at) and the database's clock (opened_at, microseconds since the epoch).
CREATE FUNCTION "baton"."open_session"(p_id text, p_credential_hash text, p_granularity_ms bigint, p_idle_ms bigint)
RETURNS TABLE (
  id text, credential_hash text, created_at timestamptz, last_active_at timestamptz, expires_at timestamptz,
  protocol_version text, client_capabilities jsonb, client_info jsonb, state jsonb,
  allowed boolean, stale boolean, touched_at timestamptz, opened_at bigint
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH candidate AS (
    SELECT s.id, s.credential_hash, s.created_at, s.last_active_at, s.expires_at, s.protocol_version,
           s.client_capabilities, s.client_info, s.state,
           (s.credential_hash = '' OR s.credential_hash = p_credential_hash) AS allowed,
           s.last_active_at < now() - p_granularity_ms * interval '1 millisecond' AS stale
    FROM "baton"."sessions" s
    WHERE s.id = p_id AND s.expires_at > now() AND s.last_active_at > now() - p_idle_ms * interval '1 millisecond'
  ), touched AS (
    UPDATE "baton"."sessions" s SET last_active_at = now()
    FROM candidate c
    WHERE s.id = c.id AND c.allowed AND c.stale
    RETURNING s.last_active_at
  )
  SELECT c.*, t.last_active_at AS touched_at, (extract(epoch FROM now()) * 1000000)::int8 AS opened_at
  FROM candidate c LEFT JOIN touched t ON true;
END
$$;
