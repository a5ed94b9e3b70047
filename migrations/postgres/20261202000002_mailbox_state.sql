-- Mailboxes page: when a poll last succeeded, and mails found already imported.
alter table mailbox add column last_success_at bigint;
alter table mailbox add column duplicate_total bigint not null default 0;

-- A rule for mailboxes that cannot be polled (issue 14).
insert into alert_rule (name, kind, domain, params, enabled, created_at) values
  ('Mailbox failing', 'mailbox_failing', null, '{"hours":1,"for_minutes":0}', 1, 0);
