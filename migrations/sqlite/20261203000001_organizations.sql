-- Issue 16: organizations. Each team sees only the domains it has proven it owns.
create table organization (
    id integer primary key,
    name text not null unique,
    created_at bigint not null
);
-- The existing installation becomes the default organization (id 1).
insert into organization (id, name, created_at) values (1, 'default', 0);

-- A claim of a domain by an organization. Reports are stored per domain whoever claims it;
-- an organization sees the domain once verified_at is set: by the TXT record
-- `_tlswatch-challenge.<domain>` holding `challenge`, or vouched for by an instance admin
-- (vouched_by). Proof is re-checked periodically; a claim whose record is gone loses
-- verified_at (vouched claims stay).
create table org_domain (
    org_id bigint not null references organization (id) on delete cascade,
    domain_id bigint not null references domain (id) on delete cascade,
    challenge text not null,
    created_at bigint not null,
    verified_at bigint,
    vouched_by text,
    checked_at bigint,
    last_error text,
    primary key (org_id, domain_id)
);
create index org_domain_domain on org_domain (domain_id);
insert into org_domain (org_id, domain_id, challenge, created_at, verified_at, vouched_by)
    select 1, id, lower(hex(randomblob(16))), created_at, created_at, 'migration' from domain;

-- Who belongs where. An instance admin sees every organization and manages them.
alter table app_user add column org_id bigint not null default 1;
alter table app_user add column instance_admin bigint not null default 0;
update app_user set instance_admin = 1 where role = 'admin';
alter table api_token add column org_id bigint not null default 1;
alter table api_token add column instance_admin bigint not null default 0;
update api_token set instance_admin = 1 where role = 'admin';

-- What each organization owns. (SQLite cannot add a referencing column with a default; the
-- service layer keeps these consistent, and organizations are never deleted.)
alter table alert_rule add column org_id bigint not null default 1;
alter table silence add column org_id bigint not null default 1;
alter table alert_channel add column org_id bigint not null default 1;
alter table mailbox add column org_id bigint not null default 1;
alter table audit_log add column org_id bigint not null default 1;

-- One instance at a time looks up the proofs.
insert into job_lease (name, holder, lease_until) values ('domain-proofs', null, 0);
