//! The queues' hosts files the checks resolve with, shared by version: every check (and
//! agent fetch) of any queue whose file has the same version holds one parsed copy, kept
//! only while in use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::domain::ProjectId;
use crate::probe::HostsFile;
use crate::store::DynStore;

/// The hosts files in use, by version.
#[derive(Default)]
pub(super) struct SharedHostsFiles {
    by_version: Mutex<HashMap<String, Weak<HostsFile>>>,
}

impl SharedHostsFiles {
    /// The hosts file of `queue`'s checks with its version (None: empty). A file whose
    /// version is in use already is shared, not read again: reading its version is one
    /// small query, and 64 checks of queues bound to one connection with 20,000 hosts hold
    /// one parsed copy, not 64.
    pub(super) async fn versioned(
        &self,
        store: &DynStore,
        project: &str,
        queue: &str,
    ) -> crate::store::Result<(Option<String>, Arc<HostsFile>)> {
        let Ok(project_id) = ProjectId::parse(project) else {
            return Ok((None, Arc::default()));
        };
        let Some(version) = store.queue_hosts_version(&project_id, queue).await? else {
            return Ok((None, Arc::default()));
        };
        if let Some(file) = self.cached(&version) {
            return Ok((Some(version), file));
        }
        let read = store.queue_hosts(&project_id, queue).await?;
        let Some(version) = read.version else {
            return Ok((None, Arc::default()));
        };
        // Another check may have read the same version meanwhile: keep one copy.
        if let Some(file) = self.cached(&version) {
            return Ok((Some(version), file));
        }
        let file = Arc::new(HostsFile::from_entries(
            read.entries
                .iter()
                .map(|(name, ip)| (name.as_str(), ip.as_str())),
        ));
        let mut files = self
            .by_version
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        files.retain(|_, file| file.strong_count() > 0);
        files.insert(version.clone(), Arc::downgrade(&file));
        Ok((Some(version), file))
    }

    fn cached(&self, version: &str) -> Option<Arc<HostsFile>> {
        self.by_version
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(version)
            .and_then(Weak::upgrade)
    }
}
