//! Tributary runtime (crate doc comes from README later).
#![forbid(unsafe_code)]

pub mod codec;
pub mod envelope;
