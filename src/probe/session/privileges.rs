//! Privilege wording (next commit).
