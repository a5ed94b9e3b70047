-- Policy and failure rows carry their report's start day (issue 18): on PostgreSQL the three
-- report tables are partitioned by month of `start_day`, and the SQL both databases share
-- joins on it. SQLite keeps one table each.

alter table report_policy add column start_day bigint not null default 0;
update report_policy set start_day = coalesce((select r.start_day from report r where r.id = report_policy.report_id), 0);

alter table failure_detail add column start_day bigint not null default 0;
update failure_detail set start_day = coalesce((select p.start_day from report_policy p where p.id = failure_detail.policy_id), 0);

-- The report list: newest first, within a range of days.
create index report_newest on report (start_day desc, start_time desc, id desc);
drop index report_start_day;
drop index report_policy_domain;
-- One domain's reports, newest first, from the index alone.
create index report_policy_domain on report_policy (domain_id, start_day, report_id, counted, failure_count);
