//! The machine the collector runs on, through sysinfo: CPU (total and per core), load,
//! memory, swap, disk usage and I/O, network traffic. Counters are stored as totals; rates
//! are taken at query time, as for any counter.

use sysinfo::{CpuRefreshKind, Disks, MemoryRefreshKind, Networks, RefreshKind, System};

use super::{CollectError, FailureKind, Reading};
use crate::tsdb::SeriesKey;

pub struct HostCollector {
    system: System,
    disks: Disks,
    networks: Networks,
    /// CPU usage needs two readings; the first call only primes it.
    primed: bool,
}

impl HostCollector {
    pub fn new() -> Result<Self, CollectError> {
        let unreadable = |err: sysinfo::Error| {
            CollectError::new(
                FailureKind::Permission,
                format!("this machine's statistics cannot be read: {err}"),
            )
        };
        let system = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing().with_usage())
                .with_memory(MemoryRefreshKind::everything()),
        )
        .map_err(unreadable)?;
        Ok(Self {
            system,
            disks: Disks::new_with_refreshed_list().map_err(unreadable)?,
            networks: Networks::new_with_refreshed_list().map_err(unreadable)?,
            primed: false,
        })
    }

    pub fn collect(&mut self, at_ms: i64) -> Reading {
        let mut reading = Reading::new();
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        self.disks.refresh(true);
        self.networks.refresh(true);
        if self.primed {
            reading.push(
                SeriesKey::new("host_cpu_usage_ratio").with("cpu", "total"),
                at_ms,
                f64::from(self.system.global_cpu_usage()) / 100.0,
            );
            for (index, cpu) in self.system.cpus().iter().enumerate() {
                reading.push(
                    SeriesKey::new("host_cpu_usage_ratio").with("cpu", index.to_string()),
                    at_ms,
                    f64::from(cpu.usage()) / 100.0,
                );
            }
        }
        self.primed = true;
        reading.push(
            SeriesKey::new("host_cpu_count"),
            at_ms,
            self.system.cpus().len() as f64,
        );
        if let Ok(load) = System::load_average() {
            reading.push(SeriesKey::new("host_load1"), at_ms, load.one);
            reading.push(SeriesKey::new("host_load5"), at_ms, load.five);
            reading.push(SeriesKey::new("host_load15"), at_ms, load.fifteen);
        }
        let memory = [
            ("host_memory_total_bytes", self.system.total_memory()),
            ("host_memory_used_bytes", self.system.used_memory()),
            (
                "host_memory_available_bytes",
                self.system.available_memory(),
            ),
            ("host_swap_total_bytes", self.system.total_swap()),
            ("host_swap_used_bytes", self.system.used_swap()),
        ];
        for (name, value) in memory {
            reading.push(SeriesKey::new(name), at_ms, value as f64);
        }
        for disk in self.disks.iter() {
            let mount = disk.mount_point().to_string_lossy().into_owned();
            let device = disk.name().to_string_lossy().into_owned();
            let total = disk.total_space();
            if total == 0 {
                continue; // pseudo file systems
            }
            reading.push(
                SeriesKey::new("host_disk_total_bytes").with("mount", &mount),
                at_ms,
                total as f64,
            );
            reading.push(
                SeriesKey::new("host_disk_used_bytes").with("mount", &mount),
                at_ms,
                total.saturating_sub(disk.available_space()) as f64,
            );
            let usage = disk.usage();
            reading.push(
                SeriesKey::new("host_disk_read_bytes_total")
                    .with("mount", &mount)
                    .with("device", &device),
                at_ms,
                usage.total_read_bytes as f64,
            );
            reading.push(
                SeriesKey::new("host_disk_written_bytes_total")
                    .with("mount", &mount)
                    .with("device", &device),
                at_ms,
                usage.total_written_bytes as f64,
            );
        }
        for (interface, data) in self.networks.iter() {
            let interface = interface.to_string_lossy().into_owned();
            reading.push(
                SeriesKey::new("host_network_received_bytes_total").with("interface", &interface),
                at_ms,
                data.total_received() as f64,
            );
            reading.push(
                SeriesKey::new("host_network_transmitted_bytes_total")
                    .with("interface", &interface),
                at_ms,
                data.total_transmitted() as f64,
            );
        }
        reading
    }
}
