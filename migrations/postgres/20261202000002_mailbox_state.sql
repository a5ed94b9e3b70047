-- Mailboxes page: when a poll last succeeded, and mails found already imported.
alter table mailbox add column last_success_at bigint;
alter table mailbox add column duplicate_total bigint not null default 0;
