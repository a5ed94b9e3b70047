-- Alerting (SQLite). Keep in step with migrations/postgres.

-- Rules: kind is failure_spike, new_failure_type, config_regression, cert_expiry or no_reports;
-- domain null means every domain; params is JSON (thresholds, windows).
create table alert_rule (
    id integer primary key,
    name text not null,
    kind text not null,
    domain text,
    params text not null,
    enabled bigint not null,
    created_at bigint not null
);

-- Alert instances, keyed by their labels. active_key is the fingerprint while pending or firing
-- and null once resolved, so at most one active instance exists per label set.
create table alert (
    id integer primary key,
    rule_id bigint not null references alert_rule (id) on delete cascade,
    fingerprint text not null,
    active_key text unique,
    labels text not null,
    domain text not null,
    state text not null,
    value double precision not null,
    baseline double precision,
    threshold double precision,
    reason text not null,
    started_at bigint not null,
    fired_at bigint,
    resolved_at bigint,
    last_eval_at bigint not null,
    acknowledged_by text,
    acknowledged_at bigint
);
create index alert_state on alert (state, started_at);

create table silence (
    id integer primary key,
    -- JSON array of {"name": label, "value": exact value}
    matchers text not null,
    starts_at bigint not null,
    ends_at bigint not null,
    author text not null,
    comment text not null,
    created_at bigint not null
);

-- Where notifications go: kind is email, slack, teams or webhook; config is JSON (URL, secret,
-- SMTP settings); domains is a JSON array routing only those domains here (empty: all).
create table alert_channel (
    id integer primary key,
    name text not null unique,
    kind text not null,
    config text not null,
    domains text not null,
    enabled bigint not null,
    created_at bigint not null
);

-- Per alert and channel: when it was last notified while firing, and whether "resolved" went out.
create table alert_delivery_state (
    alert_id bigint not null references alert (id) on delete cascade,
    channel_id bigint not null references alert_channel (id) on delete cascade,
    last_sent_at bigint not null,
    resolved_sent bigint not null,
    primary key (alert_id, channel_id)
);

-- Notifications to send, with their delivery attempts.
create table notification (
    id integer primary key,
    channel_id bigint not null references alert_channel (id) on delete cascade,
    group_key text not null,
    kind text not null,
    payload text not null,
    created_at bigint not null,
    -- pending, sending, sent, failed
    status text not null,
    attempts bigint not null,
    next_attempt_at bigint not null,
    claimed_until bigint,
    last_error text,
    sent_at bigint
);
create index notification_due on notification (status, next_attempt_at);

-- Named leases for work that one instance does at a time (alert evaluation and notification).
create table job_lease (
    name text primary key,
    holder text,
    lease_until bigint not null
);
insert into job_lease (name, holder, lease_until) values ('alerts', null, 0);

insert into alert_rule (name, kind, domain, params, enabled, created_at) values
  ('Failure spike', 'failure_spike', null, '{"baseline_days":14,"eval_days":3,"k":3.0,"min_sessions":100,"min_failures":10,"absolute_rate":0.2,"for_minutes":0}', 1, 0),
  ('New failure type', 'new_failure_type', null, '{"baseline_days":14,"eval_days":2,"min_failures":1,"for_minutes":0}', 1, 0),
  ('Configuration regression', 'config_regression', null, '{"for_minutes":0}', 1, 0),
  ('Certificate expiring', 'cert_expiry', null, '{"days":14,"for_minutes":0}', 1, 0),
  ('Reports stopped', 'no_reports', null, '{"days":3,"baseline_days":14,"min_days_with_reports":10,"for_minutes":0}', 1, 0);
