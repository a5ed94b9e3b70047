-- Issue 12: mailboxes register unknown domains only when told to (anyone can mail the
-- reporting address); mailbox passwords and channel settings are sealed by the application.
alter table mailbox add column auto_register bigint not null default 0;
