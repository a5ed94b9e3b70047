-- Issue 15: MTA-STS policies hosted by tlswatch, every version kept, and the certificates of
-- the policy hosts (obtained with ACME, shared by every instance through the database).
-- Keep in step with migrations/postgres.

create table hosted_policy (
    domain_id integer primary key references domain (id) on delete cascade,
    -- 'active', or 'phasing_out' (mode none is served until phase_out_until, then 404)
    state text not null,
    phase_out_until bigint,
    current_version bigint not null
);

create table policy_version (
    id integer primary key,
    domain_id bigint not null references domain (id) on delete cascade,
    version bigint not null,
    -- the id published in the _mta-sts record: letters and digits, at most 32, never reused
    policy_id text not null unique,
    mode text not null,
    -- JSON array of MX patterns
    mx text not null,
    max_age bigint not null,
    author text not null,
    created_at bigint not null,
    comment text not null,
    -- set when a guard was overridden (audited as well)
    override_reason text,
    unique (domain_id, version)
);

-- Certificates of mta-sts.<domain> hosts; key_pem is sealed.
create table tls_certificate (
    host text primary key,
    cert_pem text not null,
    key_pem text not null,
    not_after bigint not null,
    updated_at bigint not null,
    last_error text
);

-- Pending ACME challenges, answered by whichever instance the CA reaches; value is sealed.
create table acme_challenge (
    host text not null,
    kind text not null,
    token text not null,
    value text not null,
    expires_at bigint not null,
    primary key (host, kind)
);

-- The ACME account per directory URL; credentials are sealed.
create table acme_account (
    directory text primary key,
    credentials text not null
);

insert into job_lease (name, holder, lease_until) values ('acme', null, 0);
