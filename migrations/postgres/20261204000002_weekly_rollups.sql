-- Rollups for long ranges at scale (issue 18): per domain and week (`week` = day / 7, weeks
-- of Unix days), and per day across all domains. A range reads whole weeks from
-- `weekly_domain` and only the days at its edges from `daily_domain`; the overview's daily
-- series reads `daily_total`. Maintained in the same transaction as the daily rollups.

create table weekly_domain (
    week bigint not null,
    domain_id bigint not null references domain (id),
    success bigint not null,
    failure bigint not null,
    reports bigint not null,
    primary key (week, domain_id) include (success, failure, reports)
);
insert into weekly_domain (week, domain_id, success, failure, reports)
select day / 7, domain_id, sum(success), sum(failure), sum(reports) from daily_domain group by day / 7, domain_id;

create table daily_total (
    day bigint not null primary key,
    success bigint not null,
    failure bigint not null,
    reports bigint not null
);
insert into daily_total (day, success, failure, reports)
select day, sum(success), sum(failure), sum(reports) from daily_domain group by day;

-- The days at a range's edges, for every domain, from the index alone.
drop index daily_domain_day;
create index daily_domain_day on daily_domain (day) include (domain_id, success, failure, reports);
