-- A database of the dashboard bench's shape at 1 M reports (100 domains x 3 years x 9 reporters,
-- 3 policies each), for timing single statements with pgbench. On an empty database migrated by
-- tlswatch (e.g. `tlswatch --database-url postgres://postgres@127.0.0.1:5432/scratch domain add
-- domain000.example`), then: psql postgres://postgres@127.0.0.1:5432/scratch -f THIS_FILE
-- Day 20424 is 2025-12-02.
\timing on
insert into domain (name, created_at, origin) select format('domain%s.example', lpad(g::text, 3, '0')), 0, 'manual' from generate_series(1, 99) g;
select tlswatch_report_month(d) from generate_series(20424 - 1100, 20424 + 31, 28) d;
insert into report (org_name, report_id, start_time, end_time, start_day, channel, received_at, content_hash, raw_gz, raw_size, warnings, policy_count, success_count, failure_count, dedup_key)
select 'Reporter ' || r, format('r-%s-%s-%s', dom.id, day, r), day * 86400, day * 86400 + 86399, day, 'cli', 0, md5(format('%s-%s-%s', dom.id, day, r)), '\x00', 1, '[]', 3, 100, (day + r) % 7, format('%s-%s-%s', dom.id, day, r)
from domain dom, generate_series(20424 - 1094, 20424) day, generate_series(0, 8) r;
insert into report_policy (report_id, start_day, position, policy_type, policy_domain, domain_id, policy_strings, mx_patterns, success_count, failure_count, counted)
select rep.id, rep.start_day, pos, 'sts', d.name, d.id, '[]', '[]', 33, rep.failure_count, 1
from report rep join domain d on d.id = split_part(rep.report_id, '-', 2)::bigint, generate_series(0, 2) pos;
analyze;
