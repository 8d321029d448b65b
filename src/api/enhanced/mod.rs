//! DLI's enhanced datasource connections (issue 17): E1-E9 and the v2.0 route twins.
//! A resource of its own, apart from the classic connections: own names, quota, ids.

pub mod types;
