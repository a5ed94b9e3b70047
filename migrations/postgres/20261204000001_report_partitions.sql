-- Reports by month (issue 18). `report`, `report_policy` and `failure_detail` become
-- partitioned by range of `start_day` (days since 1970-01-01 of the report's start), one
-- partition per calendar month, named `<table>_YYYYMM`. Retention drops whole months instead
-- of deleting row by row, and queries that name a day range read only the months in it.
--
-- Policy and failure rows carry their report's `start_day`, so each child row lives in the same
-- month as its report, and every key includes `start_day` (PostgreSQL requires the partition
-- key in primary and unique keys). A report's content hash and dedup key fix its dates, so
-- uniqueness per month is uniqueness overall.
--
-- Partitions are made by `tlswatch_report_month(day)`, which the application calls before it
-- stores reports of a month it has not seen (and at start for this month and the next).
-- PostgreSQL 15 has no identity columns on partitioned tables: ids come from sequences.

create function tlswatch_report_month(day bigint) returns void
language plpgsql as $$
declare
    m date := date_trunc('month', to_timestamp(day * 86400) at time zone 'UTC')::date;
    lo bigint := m - date '1970-01-01';
    hi bigint := (m + interval '1 month')::date - date '1970-01-01';
    t text;
begin
    -- One creator at a time, across instances: `if not exists` alone races.
    perform pg_advisory_xact_lock(7418203391);
    foreach t in array array['report', 'report_policy', 'failure_detail'] loop
        execute format('create table if not exists %I partition of %I for values from (%s) to (%s)',
                       t || '_' || to_char(m, 'YYYYMM'), t, lo, hi);
    end loop;
end $$;

alter table failure_detail rename to failure_detail_unpartitioned;
alter table report_policy rename to report_policy_unpartitioned;
alter table report rename to report_unpartitioned;

create sequence report_id_sequence;
create table report (
    id bigint not null default nextval('report_id_sequence'),
    org_name text not null,
    report_id text not null,
    contact_info text,
    start_time bigint not null,
    end_time bigint not null,
    start_day bigint not null,
    channel text not null,
    received_at bigint not null,
    content_hash text not null,
    raw_gz bytea not null,
    raw_size bigint not null,
    warnings text not null,
    policy_count bigint not null,
    success_count bigint not null,
    failure_count bigint not null,
    dedup_key text not null,
    constraint report_pk primary key (id, start_day),
    constraint report_content_unique unique (content_hash, start_day),
    constraint report_dedup_unique unique (dedup_key, start_day)
) partition by range (start_day);
alter sequence report_id_sequence owned by report.id;

create sequence report_policy_id_sequence;
create table report_policy (
    id bigint not null default nextval('report_policy_id_sequence'),
    report_id bigint not null,
    start_day bigint not null,
    position bigint not null,
    policy_type text not null,
    policy_domain text not null,
    domain_id bigint not null references domain (id),
    policy_strings text not null,
    mx_patterns text not null,
    success_count bigint not null,
    failure_count bigint not null,
    counted bigint not null,
    constraint report_policy_pk primary key (id, start_day),
    constraint report_policy_report_fk foreign key (report_id, start_day)
        references report (id, start_day) on delete cascade
) partition by range (start_day);
alter sequence report_policy_id_sequence owned by report_policy.id;

create sequence failure_detail_id_sequence;
create table failure_detail (
    id bigint not null default nextval('failure_detail_id_sequence'),
    policy_id bigint not null,
    start_day bigint not null,
    result_type text not null,
    sending_mta_ip text,
    receiving_mx_hostname text,
    receiving_mx_helo text,
    receiving_ip text,
    failed_session_count bigint not null,
    additional_information text,
    failure_reason_code text,
    constraint failure_detail_pk primary key (id, start_day),
    constraint failure_detail_policy_fk foreign key (policy_id, start_day)
        references report_policy (id, start_day) on delete cascade
) partition by range (start_day);
alter sequence failure_detail_id_sequence owned by failure_detail.id;

-- A partition for every month that has reports, and for this month and the next.
do $$
declare
    d bigint;
begin
    for d in
        select distinct start_day from report_unpartitioned
        union select (current_date - date '1970-01-01')::bigint
        union select ((current_date + interval '1 month')::date - date '1970-01-01')::bigint
    loop
        perform tlswatch_report_month(d);
    end loop;
end $$;

insert into report (id, org_name, report_id, contact_info, start_time, end_time, start_day, channel,
                    received_at, content_hash, raw_gz, raw_size, warnings, policy_count,
                    success_count, failure_count, dedup_key)
select id, org_name, report_id, contact_info, start_time, end_time, start_day, channel,
       received_at, content_hash, raw_gz, raw_size, warnings, policy_count,
       success_count, failure_count, dedup_key
from report_unpartitioned;

insert into report_policy (id, report_id, start_day, position, policy_type, policy_domain, domain_id,
                           policy_strings, mx_patterns, success_count, failure_count, counted)
select p.id, p.report_id, r.start_day, p.position, p.policy_type, p.policy_domain, p.domain_id,
       p.policy_strings, p.mx_patterns, p.success_count, p.failure_count, p.counted
from report_policy_unpartitioned p join report_unpartitioned r on r.id = p.report_id;

insert into failure_detail (id, policy_id, start_day, result_type, sending_mta_ip,
                            receiving_mx_hostname, receiving_mx_helo, receiving_ip,
                            failed_session_count, additional_information, failure_reason_code)
select f.id, f.policy_id, r.start_day, f.result_type, f.sending_mta_ip,
       f.receiving_mx_hostname, f.receiving_mx_helo, f.receiving_ip,
       f.failed_session_count, f.additional_information, f.failure_reason_code
from failure_detail_unpartitioned f
join report_policy_unpartitioned p on p.id = f.policy_id
join report_unpartitioned r on r.id = p.report_id;

select setval('report_id_sequence', coalesce((select max(id) from report), 0) + 1, false);
select setval('report_policy_id_sequence', coalesce((select max(id) from report_policy), 0) + 1, false);
select setval('failure_detail_id_sequence', coalesce((select max(id) from failure_detail), 0) + 1, false);

drop table failure_detail_unpartitioned;
drop table report_policy_unpartitioned;
drop table report_unpartitioned;

-- The report list: newest first, within a range of days.
create index report_newest on report (start_day desc, start_time desc, id desc);
create index report_policy_report on report_policy (report_id);
-- One domain's reports, newest first, from the index alone.
create index report_policy_domain on report_policy (domain_id, start_day, report_id) include (counted, failure_count);
create index failure_detail_policy on failure_detail (policy_id);
