//! What a claim's answer may hold (issue 24): at most [`MAX_CLAIM_ANSWER_BYTES`], shared
//! between the checks (whose tests may bring their own hosts and credentialed stages,
//! issue 26) and the set-ups (whose connections' hosts are bounded by bytes, not count).

use crate::store::{QueueWork, SetupWork};

/// Most pieces of work one claim takes.
pub(super) const MAX_CLAIM_BATCH: u32 = 64;
/// Most bytes a claim's answer has (issue 24), whatever the project holds: work is
/// added while the answer stays within it, and the agent claims again for the rest.
pub const MAX_CLAIM_ANSWER_BYTES: usize = 4 << 20;
/// What a claim's checks take of [`MAX_CLAIM_ANSWER_BYTES`] at most: 64 pieces of about
/// 1 KiB (a url is at most 512 characters) and their queues' hosts versions.
pub(super) const CLAIM_CHECKS_BYTES: usize = 256 << 10;
/// What a set-up takes on the wire besides its connection's hosts: up to 100 routes and
/// its names.
pub(super) const SETUP_ITEM_BYTES: usize = 8 << 10;
/// The stored hosts a claim's set-ups may carry: the rest of the answer. Above the
/// largest hosts a connection can have (20,000 entries of 128-character names, about
/// 3.3 MB), so every set-up fits in a claim of its own.
pub(super) const CLAIM_SETUP_HOSTS_BYTES: usize =
    MAX_CLAIM_ANSWER_BYTES - CLAIM_CHECKS_BYTES - MAX_CLAIM_BATCH as usize * SETUP_ITEM_BYTES;
/// Estimated bytes of a set-up's item in a claim's answer: its connection's hosts as
/// stored (the same JSON) and [`SETUP_ITEM_BYTES`].
pub(super) fn setup_bytes(work: &SetupWork) -> usize {
    let hosts: usize = work
        .hosts
        .iter()
        .map(|(name, ip)| name.len() + ip.len() + 20)
        .sum();
    hosts + SETUP_ITEM_BYTES
}

/// About what one claimed check takes in a claim's answer: its ids and fields, its url,
/// its session (with a login) and its test's own hosts.
fn check_bytes(work: &QueueWork) -> usize {
    const FIELDS_AND_LOGIN: usize = 1 << 10;
    FIELDS_AND_LOGIN
        + work.destination.len()
        + work.session.as_ref().map_or(0, String::len)
        + work.hosts.as_ref().map_or(0, String::len)
}

/// Keeps the claimed checks, in order, while they fit `budget` bytes (the first always),
/// and answers the rest.
pub(super) fn split_off_beyond(claimed: &mut Vec<QueueWork>, budget: usize) -> Vec<QueueWork> {
    let mut used = 0;
    let fits = claimed
        .iter()
        .take_while(|work| {
            used += check_bytes(work);
            used <= budget
        })
        .count()
        .max(1);
    claimed.split_off(fits.min(claimed.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::QueueWorkKind;

    fn test_with_hosts(entries: usize) -> QueueWork {
        let hosts: Vec<String> = (0..entries)
            .map(|n| format!(r#"{{"name":"host-{n:03}.example.internal","ip":"10.0.0.1"}}"#))
            .collect();
        QueueWork {
            kind: QueueWorkKind::Test,
            key: "1".to_owned(),
            project_id: "p".to_owned(),
            queue_name: "q".to_owned(),
            service: None,
            destination: "db.example:5432".to_owned(),
            connection_id: None,
            session: Some(r#"{"auth_info_name":"a"}"#.to_owned()),
            login_failed_at: None,
            hosts: Some(format!("[{}]", hosts.join(","))),
        }
    }

    #[test]
    fn checks_past_the_budget_are_given_back_in_order_but_the_first_always_fits() {
        let mut claimed: Vec<QueueWork> = (0..64).map(|_| test_with_hosts(100)).collect();
        let each = check_bytes(&claimed[0]);
        assert!(each > 5_000, "{each}");
        let excess = split_off_beyond(&mut claimed, CLAIM_CHECKS_BYTES);
        assert_eq!(claimed.len(), CLAIM_CHECKS_BYTES / each);
        assert_eq!(claimed.len() + excess.len(), 64);
        let kept: usize = claimed.iter().map(check_bytes).sum();
        assert!(kept <= CLAIM_CHECKS_BYTES);

        let mut one = vec![test_with_hosts(100)];
        assert!(
            split_off_beyond(&mut one, 10).is_empty(),
            "the first always fits"
        );
        assert_eq!(one.len(), 1);
    }

    #[test]
    fn plain_checks_all_fit() {
        let mut claimed: Vec<QueueWork> = (0..64).map(|_| test_with_hosts(0)).collect();
        assert!(split_off_beyond(&mut claimed, CLAIM_CHECKS_BYTES).is_empty());
        assert_eq!(claimed.len(), 64);
    }
}
