-- tlswatch initial schema (SQLite). Keep in step with migrations/postgres.
-- Times are Unix seconds; days are days since 1970-01-01 (UTC).

create table domain (
    id integer primary key,
    name text not null unique,
    created_at bigint not null,
    -- 'manual' (registered by a user) or 'auto' (registered by an authenticated import)
    origin text not null
);

create table report (
    id integer primary key,
    org_name text not null,
    report_id text not null,
    contact_info text,
    start_time bigint not null,
    end_time bigint not null,
    start_day bigint not null,
    -- cli | upload | https | imap
    channel text not null,
    received_at bigint not null,
    -- SHA-256 (hex) of the report JSON
    content_hash text not null unique,
    -- the report as received, gzip-compressed
    raw_gz blob not null,
    raw_size bigint not null,
    -- JSON array of parse warnings
    warnings text not null,
    policy_count bigint not null,
    success_count bigint not null,
    failure_count bigint not null,
    -- SHA-256 (hex) of organization, report-id and date range: a report delivered twice in
    -- other bytes is still stored once
    dedup_key text not null unique
);
create index report_start_day on report (start_day);

create table report_policy (
    id integer primary key,
    report_id bigint not null references report (id) on delete cascade,
    position bigint not null,
    policy_type text not null,
    policy_domain text not null,
    domain_id bigint not null references domain (id),
    -- JSON arrays of strings
    policy_strings text not null,
    mx_patterns text not null,
    success_count bigint not null,
    failure_count bigint not null,
    -- 1 when the counting rule adds this policy to domain totals (see server/src/domain/counting.rs)
    counted bigint not null
);
create index report_policy_report on report_policy (report_id);
create index report_policy_domain on report_policy (domain_id);

create table failure_detail (
    id integer primary key,
    policy_id bigint not null references report_policy (id) on delete cascade,
    result_type text not null,
    sending_mta_ip text,
    receiving_mx_hostname text,
    receiving_mx_helo text,
    receiving_ip text,
    failed_session_count bigint not null,
    additional_information text,
    failure_reason_code text
);
create index failure_detail_policy on failure_detail (policy_id);

-- Daily rollups, maintained in the same transaction as the report rows.
create table daily_domain (
    domain_id bigint not null references domain (id),
    day bigint not null,
    success bigint not null,
    failure bigint not null,
    reports bigint not null,
    primary key (domain_id, day)
);
create index daily_domain_day on daily_domain (day);

create table daily_mx (
    domain_id bigint not null references domain (id),
    day bigint not null,
    mx text not null,
    failure bigint not null,
    primary key (domain_id, day, mx)
);

create table daily_result (
    domain_id bigint not null references domain (id),
    day bigint not null,
    result_type text not null,
    failure bigint not null,
    primary key (domain_id, day, result_type)
);

create table daily_reporter (
    domain_id bigint not null references domain (id),
    day bigint not null,
    org_name text not null,
    success bigint not null,
    failure bigint not null,
    reports bigint not null,
    primary key (domain_id, day, org_name)
);

-- Inputs that could not be stored as reports, kept for inspection and re-processing.
create table rejected_input (
    id integer primary key,
    channel text not null,
    source_name text not null,
    received_at bigint not null,
    reason text not null,
    content_hash text not null unique,
    raw_gz blob not null,
    raw_size bigint not null,
    reprocessed_at bigint
);
