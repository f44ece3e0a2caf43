//! Helpers shared by the integration tests. Each test binary uses a part.
#![allow(dead_code, unreachable_pub, unused_imports)]

pub mod canned;
pub mod fake;
pub mod http_server;
pub mod moto;
pub mod proxy;

pub use fake::*;
