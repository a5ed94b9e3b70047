-- All-time sums for /metrics (Prometheus counters, issue 18): per domain, per domain and MX,
-- per domain and result type. Maintained in the same transaction as the daily rollups, so a
-- scrape reads a row per domain (and per failing MX and result type) however long the
-- history is, instead of summing every daily row since the first report.

create table total_domain (
    domain_id bigint not null primary key references domain (id),
    success bigint not null,
    failure bigint not null,
    reports bigint not null
);
insert into total_domain (domain_id, success, failure, reports)
select domain_id, sum(success), sum(failure), sum(reports) from daily_domain group by domain_id;

create table total_mx (
    domain_id bigint not null references domain (id),
    mx text not null,
    failure bigint not null,
    primary key (domain_id, mx)
);
insert into total_mx (domain_id, mx, failure)
select domain_id, mx, sum(failure) from daily_mx group by domain_id, mx;

create table total_result (
    domain_id bigint not null references domain (id),
    result_type text not null,
    failure bigint not null,
    primary key (domain_id, result_type)
);
insert into total_result (domain_id, result_type, failure)
select domain_id, result_type, sum(failure) from daily_result group by domain_id, result_type;
