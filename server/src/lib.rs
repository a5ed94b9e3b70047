//! tlswatch server library: everything that runs only on the server.
//!
//! - [`domain`]: the pure TLS-RPT model, parser and counting rule (no I/O);
//! - [`store`]: all SQL, one set of statements for SQLite and PostgreSQL;
//! - [`ingest`]: from received bytes to stored reports or quarantined input;
//! - [`http`]: the axum application (dashboard, server functions, health);
//! - [`cli`]: the commands of the `tlswatch` binary.
#![forbid(unsafe_code)]

pub mod alerts;
pub mod auth;
pub mod check;
pub mod cli;
pub mod config;
pub mod domain;
pub mod hosting;
pub mod http;
pub mod ingest;
pub mod net;
pub mod process;
pub mod secrets;
pub mod service;
pub mod store;
pub mod telemetry;
