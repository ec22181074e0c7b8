//! Canary router tests.
