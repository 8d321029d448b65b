//! Tests with real servers (next commit).
