#![doc = include_str!("../README.md")]

mod eventually;
pub mod graph;
pub mod mosquitto;
pub mod process;
pub mod raw;

pub use eventually::{eventually, eventually_async};
pub use mosquitto::{free_port, FixtureError, Mosquitto, MosquittoConfig};
pub use process::TestNode;
