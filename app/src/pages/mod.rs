//! One module per page.

pub mod admin;
pub mod auth;
pub mod home;
pub mod upload;
