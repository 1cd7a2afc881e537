//! The clock the rows are timed with: wall-clock time by default; this thread's CPU time
//! when `RFC6455_COMPARE_CPU_TIME=1` is set, which is steadier on a machine busy with
//! other work (the published table uses wall-clock time).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn cpu_time() -> bool {
    static CPU: OnceLock<bool> = OnceLock::new();
    *CPU.get_or_init(|| std::env::var_os("RFC6455_COMPARE_CPU_TIME").is_some_and(|v| v == "1"))
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A point in time on the chosen clock.
pub enum Stamp {
    Wall(Instant),
    Cpu(Duration),
}

impl Stamp {
    pub fn now() -> Self {
        if cpu_time() {
            Stamp::Cpu(thread_cpu())
        } else {
            Stamp::Wall(Instant::now())
        }
    }

    pub fn elapsed(&self) -> Duration {
        match self {
            Stamp::Wall(start) => start.elapsed(),
            Stamp::Cpu(start) => thread_cpu() - *start,
        }
    }
}
