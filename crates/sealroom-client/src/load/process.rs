//! What the SFU process used, from Linux's /proc: CPU time and memory for a pid, and the
//! machine's load average.

/// utime + stime of a process, in seconds.
pub(super) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLOCK_TICKS_PER_SECOND)
}

/// USER_HZ is 100 on every Linux architecture Sealroom runs on.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// A memory line of /proc/<pid>/status (`VmHWM`, the peak resident set; `VmRSS`, the current
/// one), in MiB.
pub(super) fn memory_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&status, field).map(|kib| kib / 1024.0)
}

fn parse_status_kib(status: &str, field: &str) -> Option<f64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// CPU seconds every process of the machine has used, all CPUs together (/proc/stat: all
/// but idle and iowait time).
pub(super) fn machine_busy_seconds() -> Option<f64> {
    parse_busy_ticks(&std::fs::read_to_string("/proc/stat").ok()?)
        .map(|ticks| ticks as f64 / CLOCK_TICKS_PER_SECOND)
}

fn parse_busy_ticks(stat: &str) -> Option<u64> {
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
    // counted in user and nice.
    let total: u64 = fields.iter().take(8).sum();
    Some(total - fields.get(3)? - fields.get(4)?)
}

/// UDP datagrams the kernel dropped for want of room in a socket's buffer, receiving and
/// sending, in this network namespace (every socket of it, not one process's).
pub(super) fn udp_buffer_drops() -> Option<(u64, u64)> {
    parse_udp_buffer_drops(&std::fs::read_to_string("/proc/net/snmp").ok()?)
}

fn parse_udp_buffer_drops(snmp: &str) -> Option<(u64, u64)> {
    let mut udp = snmp.lines().filter(|line| line.starts_with("Udp: "));
    let names: Vec<&str> = udp.next()?.split_whitespace().collect();
    let values: Vec<&str> = udp.next()?.split_whitespace().collect();
    let field = |name: &str| -> Option<u64> {
        let index = names.iter().position(|n| *n == name)?;
        values.get(index)?.parse().ok()
    };
    Some((field("RcvbufErrors")?, field("SndbufErrors")?))
}

/// The 1, 5 and 15 minute load averages.
pub(super) fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).is_some());
        // The current size first: other tests' threads grow this process between the reads,
        // and the peak read after it can only be larger.
        let now = memory_mib(pid, "VmRSS").unwrap();
        let peak = memory_mib(pid, "VmHWM").unwrap();
        assert!(peak >= now && now > 0.0, "{peak} {now}");
        assert!(load_average().is_some());
    }

    #[test]
    fn busy_time_leaves_out_idle_iowait_and_guest() {
        let stat = "cpu  100 10 50 1000 7 0 5 2 30 0\ncpu0 50 5 25 500 3 0 2 1 15 0\n";
        assert_eq!(parse_busy_ticks(stat), Some(167));
        assert!(machine_busy_seconds().is_some());
    }

    #[test]
    fn udp_buffer_drops_are_read_by_name() {
        let snmp = "Ip: Forwarding\nIp: 1\nUdp: InDatagrams NoPorts InErrors OutDatagrams \
                    RcvbufErrors SndbufErrors\nUdp: 10 0 7 12 5 2\nUdpLite: InDatagrams\n\
                    UdpLite: 0\n";
        assert_eq!(parse_udp_buffer_drops(snmp), Some((5, 2)));
        assert!(udp_buffer_drops().is_some());
    }

    #[test]
    fn status_fields_are_matched_whole() {
        let status = "VmHWMx:\t1 kB\nVmHWM:\t  2048 kB\nVmRSS:\t1024 kB\n";
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(2048.0));
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(1024.0));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
    }
}
