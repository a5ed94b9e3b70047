-- The report table without the unique constraint on content_hash (see rebuilds.rs). Run in
-- one transaction with foreign keys off.
create table report_rebuilt (
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
    content_hash text not null,
    -- the report as received, gzip-compressed
    raw_gz blob not null,
    raw_size bigint not null,
    -- JSON array of parse warnings
    warnings text not null,
    policy_count bigint not null,
    success_count bigint not null,
    failure_count bigint not null,
    -- SHA-256 (hex) of organization, report-id and date range: a report delivered twice, in
    -- the same or in other bytes, is stored once
    dedup_key text not null unique
);
insert into report_rebuilt (id, org_name, report_id, contact_info, start_time, end_time, start_day,
                            channel, received_at, content_hash, raw_gz, raw_size, warnings,
                            policy_count, success_count, failure_count, dedup_key)
select id, org_name, report_id, contact_info, start_time, end_time, start_day,
       channel, received_at, content_hash, raw_gz, raw_size, warnings,
       policy_count, success_count, failure_count, dedup_key
from report order by id;
drop table report;
alter table report_rebuilt rename to report;
create index report_newest on report (start_day desc, start_time desc, id desc);
