//! The descriptor limit: every connection is a socket, and the default soft limit (often 1024)
//! is far below what `ws-idle` holds.

/// Descriptors the generator needs besides its sockets (stdio, the runtime's epoll and wakers,
/// timers), kept free when checking whether a run fits.
pub const RESERVED: u64 = 32;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the soft limit now in force
/// (`None` when unlimited or unknown). Failing to raise it is not fatal: the run goes on with
/// the old limit, and connections beyond it fail as `no_descriptors`.
#[cfg(target_os = "linux")]
pub fn raise() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

    let limit = getrlimit(Resource::Nofile);
    // Linux refuses an infinite soft limit for descriptors; its real ceiling is `nr_open`.
    let ceiling = limit.maximum.or_else(nr_open);
    if let (Some(current), Some(ceiling)) = (limit.current, ceiling)
        && current < ceiling
    {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(ceiling),
                maximum: limit.maximum,
            },
        );
    }
    getrlimit(Resource::Nofile).current
}

/// Elsewhere the limit is left alone and not known.
#[cfg(not(target_os = "linux"))]
pub fn raise() -> Option<u64> {
    None
}

#[cfg(target_os = "linux")]
fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A warning when `sockets` connections cannot fit under `limit`, else `None`.
pub fn shortfall(sockets: u64, limit: Option<u64>) -> Option<String> {
    let limit = limit?;
    let needed = sockets.saturating_add(RESERVED);
    (needed > limit).then(|| {
        format!(
            "{sockets} connections need about {needed} file descriptors but the limit is \
             {limit} (soft RLIMIT_NOFILE, already raised to the hard limit); connections beyond \
             it will fail as no_descriptors. Raise the hard limit (`ulimit -Hn`, \
             /etc/security/limits.conf, or LimitNOFILE= for a service) and run again"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_leaves_a_known_limit_on_linux() {
        let limit = raise();
        if cfg!(target_os = "linux") {
            assert!(limit.is_some_and(|limit| limit >= 64), "{limit:?}");
        }
    }

    #[test]
    fn a_shortfall_is_reported_with_the_remedy() {
        assert_eq!(shortfall(100, Some(1024)), None);
        assert_eq!(shortfall(100, None), None);
        let warning = shortfall(10_000, Some(1024)).unwrap();
        assert!(warning.contains("1024"), "{warning}");
        assert!(warning.contains("ulimit -Hn"), "{warning}");
    }
}
