//! The test certificate authority: the checker lab's, generated at test time (rcgen).
#![allow(unused_imports)]

pub use tlswatch::check::lab::{Leaf, TestCa};
