//! PURISTA envelope types.
