-- A report's dedup key starts with its start day (issue 18): `020423-` and the SHA-256 (hex)
-- of organization, report-id and dates, as `dedup_key` in server/src/store/reports.rs computes
-- it. Keys of the same day sit together in its unique index, so a batch of reports writes a
-- few of its pages instead of one at a random place per report. Keys stored before get the
-- prefix here (they are the 64 hex digits alone), so a copy arriving later still finds them.
update report
set dedup_key = lpad(greatest(0, least(999999, start_day))::text, 6, '0') || '-' || dedup_key
where length(dedup_key) = 64;
