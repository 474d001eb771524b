//! The live log and status changes over `tauri::ipc::Channel` (ordered, one per window
//! subscription), as `/ws/logs` and `/ws/status` stream them: the current state first (the log
//! buffer; the status), then every change.
//!
//! The engine pushes into bounded std channels and never waits for the window; one forwarding
//! thread per subscription moves values to the IPC channel (so nothing that logs runs under the
//! log hub's lock, and a slow window loses log lines, counted in `missed_before`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};

use nas_sync_engine::runtime::monitor::StatusSink;
use nas_sync_engine::runtime::{LogLine, Status};
use tauri::State;
use tauri::ipc::Channel;

use crate::error::{CmdError, CmdResult, ErrorCode};
use crate::state::{Shell, Subscription};

/// Log lines a window may be behind before lines are dropped for it (as the server's WS_BUFFER).
const LOG_BUFFER: usize = 2_048;

#[tauri::command]
pub fn subscribe_logs(shell: State<'_, Shell>, channel: Channel<LogLine>) -> CmdResult<u32> {
    let (sub, rx) = shell.monitor.logs().subscribe_channel(LOG_BUFFER);
    let id = shell.add_subscription(Subscription::Logs(sub));
    spawn_forwarder("ipc-logs", rx, channel)?;
    Ok(id)
}

struct StatusForward {
    tx: mpsc::SyncSender<Status>,
    alive: Arc<AtomicBool>,
}

impl StatusSink for StatusForward {
    fn push(&self, status: &Status) -> bool {
        // A window far behind on status changes only needs the latest: drop, do not block.
        self.alive.load(Ordering::Relaxed)
            && !matches!(
                self.tx.try_send(status.clone()),
                Err(mpsc::TrySendError::Disconnected(_))
            )
    }
}

#[tauri::command]
pub fn subscribe_status(shell: State<'_, Shell>, channel: Channel<Status>) -> CmdResult<u32> {
    let (tx, rx) = mpsc::sync_channel(64);
    let alive = Arc::new(AtomicBool::new(true));
    spawn_forwarder("ipc-status", rx, channel)?;
    shell.monitor.subscribe_status(Box::new(StatusForward {
        tx,
        alive: alive.clone(),
    }));
    Ok(shell.add_subscription(Subscription::Status(alive)))
}

/// Close a stream opened by `subscribe_logs` or `subscribe_status`.
#[tauri::command]
pub fn unsubscribe(shell: State<'_, Shell>, id: u32) -> CmdResult<()> {
    if shell.remove_subscription(id) {
        Ok(())
    } else {
        Err(CmdError::new(
            ErrorCode::NotFound,
            format!("no subscription {id}"),
        ))
    }
}

/// Move values from `rx` to the window until either side goes away.
fn spawn_forwarder<T: serde::Serialize + Clone + Send + 'static>(
    name: &str,
    rx: mpsc::Receiver<T>,
    channel: Channel<T>,
) -> CmdResult<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while let Ok(v) = rx.recv() {
                if channel.send(v).is_err() {
                    break;
                }
            }
        })
        .map(|_| ())
        .map_err(|e| CmdError::new(ErrorCode::Internal, format!("cannot start a stream: {e}")))
}
