//! Network plumbing shared by the IMAP poller and the checker: TLS client settings.

pub mod tls;
