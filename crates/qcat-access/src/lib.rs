//! Access control for QCAT Console: the model as plain data and functions, and its storage
//! (the API's enforcement builds on it):
//!
//! - [`catalog`]: every permission the code checks, `resource:action`, and pattern matching
//!   with wildcards (`backup:*`, `*:view`, `*`).
//! - [`roles`]: roles that grant patterns and inherit from other roles; cycles are refused
//!   with the cycle named; effective permissions and the path that grants one
//!   ("why can this user do X?").
//! - [`store`]: the role graph in the console's store, seeded with the built-in roles.

pub mod catalog;
pub mod control;
pub mod roles;
pub mod store;
pub mod throttle;
pub mod users;
