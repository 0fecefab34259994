//! Peak resident set size (`VmHWM`) from `/proc/<pid>/status`, and minor page faults from
//! `/proc/<pid>/stat`.

/// `VmHWM` in KiB from the text of a `/proc/<pid>/status` file.
pub fn parse_vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The peak RSS of this process so far, in KiB.
pub fn own_peak_kib() -> Option<u64> {
    parse_vm_hwm_kib(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// The peak RSS of process `pid` so far, in KiB (read it before the process exits).
pub fn peak_kib_of(pid: u32) -> Option<u64> {
    parse_vm_hwm_kib(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// The minor page faults (`minflt`, the tenth field) from the text of a `/proc/<pid>/stat` file.
/// The second field (the command name, in parentheses) may hold spaces, so fields are counted
/// from the last `)`.
pub fn parse_minor_faults(stat: &str) -> Option<u64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    // After the name: state (3), ppid, pgrp, session, tty_nr, tpgid, flags, minflt (10).
    after_name.split_whitespace().nth(7)?.parse().ok()
}

/// The minor page faults of process `pid` so far (read it before the process exits).
pub fn minor_faults_of(pid: u32) -> Option<u64> {
    parse_minor_faults(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// KiB as MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_hwm_from_a_status_file() {
        let status = "Name:\tbench\nVmPeak:\t  200000 kB\nVmHWM:\t   12345 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_vm_hwm_kib(status), Some(12345));
        assert_eq!(parse_vm_hwm_kib("Name:\tbench\n"), None);
    }

    #[test]
    fn reads_minor_faults_from_a_stat_file() {
        let stat = "4242 (web hook) S 1 4242 4242 0 -1 4194560 317 0 0 0 1 2 0 0 20 0 3 0";
        assert_eq!(parse_minor_faults(stat), Some(317));
        assert_eq!(parse_minor_faults("4242 (x) S 1"), None);
        let own = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert!(parse_minor_faults(&own).is_some_and(|faults| faults > 0));
    }

    #[test]
    fn this_process_has_a_peak_rss() {
        assert!(own_peak_kib().is_some_and(|kib| kib > 0));
    }
}
