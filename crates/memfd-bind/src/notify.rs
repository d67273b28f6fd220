//! `sd_notify(3)` without libsystemd: one datagram to `$NOTIFY_SOCKET`.
//!
//! With `Type=notify`, systemd considers the unit started only once the bind
//! mount is in place (READY=1), so units ordered after it see the sealed path.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Send `state` (e.g. `READY=1`) if we run under a service manager; a failure
/// is logged, never fatal: serving matters more than telling.
pub fn notify(state: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let bytes = socket.as_bytes();
    let addr = match bytes.strip_prefix(b"@") {
        Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name),
        None => SocketAddr::from_pathname(&socket),
    };
    let sent = addr.and_then(|addr| UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &addr));
    match sent {
        Ok(_) => tracing::debug!(state, "notified the service manager"),
        Err(e) => {
            tracing::warn!(socket = %socket.to_string_lossy(), state, error = %e, "sd_notify failed")
        }
    }
}
