//! Access control for QCAT Console, as plain data and functions (storage and the API's
//! enforcement build on it):
//!
//! - [`catalog`]: every permission the code checks, `resource:action`, and pattern matching
//!   with wildcards (`backup:*`, `*:view`, `*`).
//! - [`roles`]: roles that grant patterns and inherit from other roles; cycles are refused
//!   with the cycle named; effective permissions and the path that grants one
//!   ("why can this user do X?").

pub mod catalog;
pub mod roles;
