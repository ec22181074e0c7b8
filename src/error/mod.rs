//! Telling seawall's failures apart, and rejecting bad configuration.
//!
//! Every layer that adds a failure has its own small error type and returns
//! [`BoxError`], as tower's own layers do. [`ErrorKind::of`] looks through a
//! boxed error and its whole `source()` chain, so a caller needs one `match`
//! whatever the stack of layers and wrappers in between.
//!
//! The three live in files of their own: [`ErrorKind`] knows every layer's
//! error type, and a layer's error type may hold a [`BoxError`], so the box
//! cannot live beside the kinds without the two depending on each other.

mod boxed;
mod config;
mod kind;

pub use self::boxed::BoxError;
pub use self::config::ConfigError;
pub use self::kind::ErrorKind;

#[cfg_attr(not(any(feature = "axum", feature = "tonic")), allow(unused_imports))]
pub(crate) use self::kind::find_in_chain;
pub(crate) use self::kind::{as_known_error, chain};
