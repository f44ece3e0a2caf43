//! Helpers shared by the integration tests. Each test binary uses a part.
#![allow(dead_code, unreachable_pub)]

pub mod canned;
pub mod moto;
pub mod proxy;
