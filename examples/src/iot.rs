//! What the IoT server, its devices and its dashboard exchange.
//!
//! Devices are presence keys in [`DEVICES`]: a device is online while its key is there. Each
//! device is also in [`group_room`] and [`device_room`], the targets of commands.

use serde::{Deserialize, Serialize};

/// The presence room of devices, keyed by device id.
pub const DEVICES: &str = "devices";
/// The room of dashboards: stats and alerts go there.
pub const DASHBOARD: &str = "dashboard";
/// How many groups devices fall in: device `n` is in group `g{n % GROUPS}`.
pub const GROUPS: usize = 10;

/// The room of one group, e.g. `group:g3`.
pub fn group_room(group: &str) -> String {
    format!("group:{group}")
}

/// The room of one device, e.g. `device:dev-0042`.
pub fn device_room(device: &str) -> String {
    format!("device:{device}")
}

/// The id of device number `n`.
pub fn device_id(n: usize) -> String {
    format!("dev-{n:04}")
}

/// The group of device number `n`.
pub fn group_of(n: usize) -> String {
    format!("g{}", n % GROUPS)
}

/// The handshake's auth payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Auth {
    /// `device` or `dashboard`.
    pub role: String,
    /// A device's id.
    #[serde(default)]
    pub device: String,
    /// A device's group.
    #[serde(default)]
    pub group: String,
}

/// `reading`, sequenced, once a second from each device: the server never handles a reading
/// older than one it already has.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Reading {
    /// The device's reading count, from 1.
    pub n: u64,
    /// A temperature, °C.
    pub v: f32,
}

/// `alert`, reliable with an ack: a reading over the threshold. Resent with the same id until
/// acked; the server acts on each id once.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Alert {
    /// The device's alert count, from 1.
    pub id: u64,
    /// The reading that raised it.
    pub v: f32,
}

/// The server's ack of an [`Alert`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct AlertAck {
    /// The server had this alert already: a resend.
    pub duplicate: bool,
}

/// `alert` to dashboards.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertSeen {
    /// The device that raised it.
    pub device: String,
    /// The device's alert id.
    pub id: u64,
    /// The reading.
    pub v: f32,
    /// When the server got it, Unix ms.
    pub t: u64,
}

/// A device's presence meta in [`DEVICES`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceMeta {
    /// The device's group.
    pub group: String,
    /// When this connection came online, Unix ms.
    pub since: u64,
}

/// One group's readings in the last second.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupStat {
    /// The group.
    pub group: String,
    /// The mean reading.
    pub mean: f32,
    /// How many readings.
    pub count: u32,
}

/// `stats` to dashboards, once a second.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stats {
    /// When, Unix ms.
    pub t: u64,
    /// Readings received in the last second.
    pub rate: u32,
    /// Readings received since the server started.
    pub readings: u64,
    /// Alerts received since the server started, each once.
    pub alerts: u64,
    /// Alert resends seen (and acked again, not acted on).
    pub duplicate_alerts: u64,
    /// Devices online.
    pub online: u32,
    /// Each group's readings in the last second.
    pub groups: Vec<GroupStat>,
}

/// One device in the reply to a dashboard's `devices`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceRow {
    /// Its id.
    pub id: String,
    /// Its group.
    pub group: String,
    /// Whether it is online now.
    pub online: bool,
    /// When it was last heard from, Unix ms.
    pub last_seen: u64,
    /// Its last reading.
    pub value: Option<f32>,
}

/// `command` from a dashboard, with an ack: to one device or a group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Command {
    /// A device id (`dev-0042`) or a group (`g3`).
    pub target: String,
    /// What to do, e.g. `blink`.
    pub action: String,
}

/// `command` to devices, with an ack.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceCommand {
    /// Unique per server run.
    pub id: u64,
    /// What to do.
    pub action: String,
}

/// A device's ack of a [`DeviceCommand`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommandAck {
    /// The device.
    pub device: String,
    /// Whether it carried the command out.
    pub ok: bool,
}

/// The reply to a dashboard's `command`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommandResult {
    /// The command's id.
    pub id: u64,
    /// The target as given.
    pub target: String,
    /// Devices the command went to.
    pub sent: u32,
    /// Devices that acked, sorted.
    pub acked: Vec<String>,
    /// Devices that did not ack in time.
    pub missing: u32,
}
