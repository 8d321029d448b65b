//! What makes a backend a store: every store trait, written once for both backends.

/// Writes every store trait's impl for `$store` over the database `$db`: the list both
/// backends share, so a new trait is added to both at once.
macro_rules! impl_stores {
    ($store:ident, $db:ident) => {
        $crate::store::classic::impl_store!($store, $db);
        $crate::store::queue_work::impl_queue_work_store!($store, $db);
        $crate::store::enhanced::impl_enhanced_store!($store, $db);
        $crate::store::enhanced_sharing::impl_enhanced_sharing_store!($store, $db);
        $crate::store::auth_infos::impl_auth_info_store!($store, $db);
        $crate::store::queue_settings::impl_queue_settings_store!($store, $db);
        $crate::store::event_store::impl_event_store!($store, $db);
    };
}

pub(super) use impl_stores;
