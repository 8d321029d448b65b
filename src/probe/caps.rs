//! How many addresses, lookups and dials one check may cover; the caps behind the
//! fan-out bounds in the module comment of `probe`.

/// Most addresses of one name a check dials: the first of its answers, in address order.
pub const MAX_ADDRESSES_PER_NAME: usize = 16;

/// Most addresses one check dials over all its endpoints; a name that does not resolve
/// takes one place too. Endpoints past this are not even looked up.
pub const MAX_ADDRESSES_PER_CHECK: usize = 64;

/// Most lookups or dials one check has in flight, so that concurrent checks share the
/// process-wide limit instead of one of them taking every permit.
pub const MAX_DIALS_IN_FLIGHT_PER_CHECK: usize = 16;

/// Rounds of lookups, then of dials, that the caps allow in one check: the time a check
/// may take, waiting for permits included.
pub(super) const ROUNDS: u32 =
    MAX_ADDRESSES_PER_CHECK.div_ceil(MAX_DIALS_IN_FLIGHT_PER_CHECK) as u32;

/// Sockets one name lookup may hold at once (A and AAAA queries side by side).
pub(super) const SOCKETS_PER_LOOKUP: u32 = 2;
