//! What the commands share: the engine's [`Service`] (the same one the headless server hosts:
//! monitor, match index, settings file), the window's admin grant and its open IPC
//! subscriptions.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use nas_sync_engine::runtime::logs::SubscriptionId;
use nas_sync_engine::runtime::service::Answer;
use nas_sync_engine::runtime::{Caller, CallerKind, Monitor, Service};

use crate::error::{CmdResult, blocking};

/// One open stream to the window.
pub enum Subscription {
    Logs(SubscriptionId),
    /// The monitor drops a status sink on its next push once this flag is false.
    Status(Arc<AtomicBool>),
}

pub struct Shell {
    pub service: Service,
    /// The service's monitor (the tray, toasts and streams follow it).
    pub monitor: Monitor,
    /// The live log file (the "open log folder" button opens its folder).
    pub log_file: Option<PathBuf>,
    subs: Mutex<HashMap<u32, Subscription>>,
    next_sub: AtomicU32,
    /// The admin grant the window's PIN unlocked (the engine checks it on every admin action).
    admin_grant: Mutex<Option<String>>,
}

impl Shell {
    pub fn new(service: Service) -> Shell {
        let monitor = service.monitor().clone();
        let log_file = monitor.logs().log_file();
        Shell {
            service,
            monitor,
            log_file,
            subs: Mutex::new(HashMap::new()),
            next_sub: AtomicU32::new(1),
            admin_grant: Mutex::new(None),
        }
    }

    /// Who the window is for the engine's admin checks: the local user, with the grant its PIN
    /// unlocked, if any.
    pub fn caller(&self) -> Caller {
        let grant = self
            .admin_grant
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Caller::new(CallerKind::Local, grant, "desktop")
    }

    /// Keep the grant a PIN unlocked (replacing an older one).
    pub fn set_admin_grant(&self, grant: Option<String>) {
        *self.admin_grant.lock().unwrap_or_else(|p| p.into_inner()) = grant;
    }

    /// Call the service off the async executor (it may block on SQLite or the share).
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Service) -> Answer<T> + Send + 'static,
    ) -> CmdResult<T> {
        let s = self.service.clone();
        blocking(move || f(&s)).await
    }

    pub fn add_subscription(&self, sub: Subscription) -> u32 {
        let id = self.next_sub.fetch_add(1, Ordering::Relaxed);
        self.lock_subs().insert(id, sub);
        id
    }

    /// Close a stream; false when `id` was not open.
    pub fn remove_subscription(&self, id: u32) -> bool {
        let Some(sub) = self.lock_subs().remove(&id) else {
            return false;
        };
        match sub {
            Subscription::Logs(s) => self.monitor.logs().unsubscribe(s),
            Subscription::Status(alive) => alive.store(false, Ordering::Relaxed),
        }
        true
    }

    pub fn subscription_count(&self) -> usize {
        self.lock_subs().len()
    }

    fn lock_subs(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Subscription>> {
        self.subs.lock().unwrap_or_else(|p| p.into_inner())
    }
}
