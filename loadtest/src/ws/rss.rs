//! A process's resident memory, from `/proc/<pid>/status` (Linux).

/// `VmRSS` of process `pid`, in KiB.
pub fn read_kib(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    vm_rss_kib(&status).ok_or_else(|| format!("{path} has no VmRSS line (a kernel thread?)"))
}

/// The `VmRSS:   123456 kB` line of a status text, in KiB. The kernel always writes `kB`
/// (meaning KiB); any other unit is refused rather than guessed.
pub fn vm_rss_kib(status: &str) -> Option<u64> {
    let value = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?;
    let mut parts = value.split_whitespace();
    let kib = parts.next()?.parse().ok()?;
    (parts.next() == Some("kB")).then_some(kib)
}

/// Memory per connection, in KiB: the growth from `before` to `after` shared by `connections`.
/// Negative when the process shrank; `None` without connections.
pub fn per_connection_kib(before: u64, after: u64, connections: u64) -> Option<f64> {
    (connections > 0).then(|| (after as f64 - before as f64) / connections as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tomnia-gateway\nUmask:\t0022\nState:\tS (sleeping)\n\
        VmPeak:\t  812340 kB\nVmHWM:\t   40112 kB\nVmRSS:\t   38400 kB\nRssAnon:\t   20000 kB\n\
        Threads:\t3\n";

    #[test]
    fn vm_rss_is_read_from_its_line() {
        assert_eq!(vm_rss_kib(STATUS), Some(38_400));
        assert_eq!(vm_rss_kib("Name:\tx\n"), None);
        assert_eq!(vm_rss_kib("VmRSS:\t12 MB\n"), None);
        assert_eq!(vm_rss_kib("VmRSS:\n"), None);
    }

    #[test]
    fn per_connection_shares_the_growth() {
        assert_eq!(per_connection_kib(1000, 3000, 100), Some(20.0));
        assert_eq!(per_connection_kib(3000, 1000, 100), Some(-20.0));
        assert_eq!(per_connection_kib(1000, 3000, 0), None);
    }

    #[test]
    fn this_process_has_a_resident_size() {
        if cfg!(target_os = "linux") {
            assert!(read_kib(std::process::id()).unwrap() > 0);
        }
        assert!(read_kib(u32::MAX).is_err());
    }
}
