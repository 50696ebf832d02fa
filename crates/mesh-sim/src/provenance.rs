//! Where a report comes from: the commit the simulator was built from, the command that ran
//! it, and the machine it ran on. Every JSON report carries it, so a figure can be traced to
//! the code and hardware that produced it.

use serde::{Deserialize, Serialize};

/// The commit, command line and machine of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The git commit the simulator was built from (`unknown` outside a git checkout).
    pub commit: String,
    /// Whether tracked files differed from that commit when it was built.
    pub dirty: bool,
    /// The command line, program name first.
    pub command: Vec<String>,
    /// The machine.
    pub machine: Machine,
    /// When the run finished, Unix seconds.
    pub finished_at_unix_s: u64,
}

/// What the run's machine is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Cores the process may use.
    pub cores: usize,
    /// The processor's model name, where the system reports one.
    pub cpu: Option<String>,
    /// Physical memory, bytes, where the system reports it.
    pub memory_bytes: Option<u64>,
    /// Operating system and architecture, e.g. `linux x86_64`.
    pub os: String,
    /// The kernel's release, where the system reports it.
    pub kernel: Option<String>,
}

impl Provenance {
    /// This process's provenance, now.
    pub fn current() -> Self {
        Self {
            commit: env!("MESH_SIM_COMMIT").to_owned(),
            dirty: env!("MESH_SIM_DIRTY") == "true",
            command: std::env::args().collect(),
            machine: Machine::current(),
            finished_at_unix_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }
}

impl Machine {
    /// This machine.
    pub fn current() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        Self {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu: read("/proc/cpuinfo").and_then(|s| field(&s, "model name")),
            memory_bytes: read("/proc/meminfo")
                .and_then(|s| field(&s, "MemTotal"))
                .and_then(|kb| kb.trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|kb| kb * 1024),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            kernel: read("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()),
        }
    }
}

/// The value of the first `name: value` line of a `/proc` file.
fn field(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fields_are_read_by_name() {
        let meminfo = "MemTotal:       24576000 kB\nMemFree:        1000 kB\n";
        assert_eq!(field(meminfo, "MemTotal").as_deref(), Some("24576000 kB"));
        assert_eq!(field(meminfo, "MemFree").as_deref(), Some("1000 kB"));
        assert_eq!(field(meminfo, "Cached"), None);
    }

    #[test]
    fn the_current_run_names_its_commit_and_machine() {
        let p = Provenance::current();
        assert!(!p.commit.is_empty());
        assert!(p.machine.cores >= 1);
        assert!(!p.command.is_empty(), "the program name at least");
        let json = serde_json::to_string(&p).unwrap();
        let back: Provenance = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }
}
