//! Certificate judgement (next commit).
