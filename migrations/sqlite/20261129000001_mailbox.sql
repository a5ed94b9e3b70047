-- IMAP mailboxes polled for report mails (SQLite). Keep in step with migrations/postgres.
create table mailbox (
    id integer primary key,
    name text not null unique,
    host text not null,
    port bigint not null,
    -- 'implicit' (TLS from the first byte, usually 993) or 'starttls' (usually 143)
    tls_mode text not null,
    username text not null,
    password text not null,
    folder text not null,
    -- where imported report mails go; null: mark them \Seen and leave them
    archive_folder text,
    -- where mails that are not reports go; null: mark them \Seen and leave them
    rejected_folder text,
    poll_seconds bigint not null,
    enabled bigint not null,
    -- lease so that one of several instances polls a mailbox at a time
    lease_until bigint,
    last_poll_at bigint,
    last_error text,
    imported_total bigint not null default 0,
    rejected_total bigint not null default 0
);
