-- Configuration health check runs (SQLite). Keep in step with migrations/postgres.
create table check_run (
    id integer primary key,
    domain_id bigint not null references domain (id),
    started_at bigint not null,
    millis bigint not null,
    -- 'manual', 'schedule', 'cli' or 'api'
    trigger_kind text not null,
    -- worst severity: pass, info, skip, warn, error, fail
    worst text not null,
    fails bigint not null,
    warns bigint not null,
    -- mode of the valid policy seen, if any
    mode text,
    -- JSON array of findings {id, severity, title, detail, fix, rfc, subject?, result_type?}
    findings text not null,
    -- JSON of the state the stateful checks (group J) compare with
    snapshot text not null,
    -- JSON array of the MX hosts found
    mx_hosts text not null,
    policy_text text
);
create index check_run_domain on check_run (domain_id, started_at);

-- when the scheduler checks the domain next (claimed atomically, so one instance runs it)
alter table domain add column next_check_at bigint not null default 0;
-- the latest run's verdict, kept on the domain so the overview reads it without scanning runs
alter table domain add column check_worst text;
alter table domain add column check_mode text;
