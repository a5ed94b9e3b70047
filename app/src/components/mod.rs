//! Reusable UI pieces.

pub mod chart;
