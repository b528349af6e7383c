-- API tokens (`cairn token create`): each acts as one user, never beyond its rights. Only the
-- SHA-256 of the secret part is kept; revoking or expiring takes effect at the next request.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    user_name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    read_only BOOLEAN NOT NULL,
    note TEXT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_by_user ON api_tokens (user_name);
