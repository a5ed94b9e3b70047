-- Issue 14: mailboxes on modern authentication and Microsoft Graph.
-- kind: 'imap' or 'graph' (host then holds the Graph base URL).
alter table mailbox add column kind text not null default 'imap';
-- auth: 'password', 'client_credentials' (Microsoft 365 app-only), 'service_account' (Google
-- domain-wide delegation), 'authorization_code' (signed in once, refresh token kept).
-- The secret of each (password, client secret, service account key) is the sealed `password`.
alter table mailbox add column auth text not null default 'password';
-- Non-secret OAuth settings as JSON: tenant, authority, token_url, authorize_url, client_id,
-- scope, sasl.
alter table mailbox add column oauth text not null default '{}';
-- Refresh token of the authorization-code flow, sealed; '' when there is none.
alter table mailbox add column refresh_token text not null default '';
-- 1 when the identity provider refused the grant: not polled until it is fixed.
alter table mailbox add column auth_required bigint not null default 0;
-- Opt-in: archived report mails older than this many days are deleted; null keeps them.
alter table mailbox add column retention_days bigint;
-- Failed polls by kind (metrics).
alter table mailbox add column auth_errors_total bigint not null default 0;
alter table mailbox add column network_errors_total bigint not null default 0;
alter table mailbox add column server_errors_total bigint not null default 0;

-- Pending "sign in with the provider" of authorization-code mailboxes: the PKCE verifier
-- (sealed) by the random state, so any instance can finish it.
create table mailbox_authorization (
    state text primary key,
    mailbox_id bigint not null references mailbox(id) on delete cascade,
    verifier text not null,
    created_at bigint not null
);
