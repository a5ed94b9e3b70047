-- Accounts, API tokens, sessions, audit log (SQLite). Keep in step with migrations/postgres.
create table app_user (
    id integer primary key,
    email text not null unique,
    -- argon2id PHC string
    password_hash text not null,
    -- 'admin' | 'editor' | 'viewer'
    role text not null,
    created_at bigint not null,
    disabled bigint not null default 0,
    failed_logins bigint not null default 0,
    locked_until bigint
);

create table api_token (
    id integer primary key,
    name text not null,
    -- SHA-256 (hex) of the token; the token itself is shown once and never stored
    token_hash text not null unique,
    role text not null,
    created_by text not null,
    created_at bigint not null,
    last_used_at bigint,
    revoked_at bigint
);

-- tower-sessions records (shared by every instance)
create table session (
    id text primary key,
    data text not null,
    expiry_date bigint not null
);
create index session_expiry on session (expiry_date);

-- one-time link to create the first admin
create table setup_token (
    token_hash text primary key,
    expires_at bigint not null
);

create table audit_log (
    id integer primary key,
    at bigint not null,
    actor text not null,
    action text not null,
    detail text not null,
    ip text
);
create index audit_log_at on audit_log (at);
