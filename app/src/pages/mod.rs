//! One module per page.

pub mod admin;
pub mod alerts;
pub mod auth;
pub mod channels;
pub mod claims;
pub mod domain;
pub mod health;
pub mod home;
pub mod mailboxes;
pub mod policy;
pub mod reports;
pub mod upload;
