//! MESH's Unix time follows tokio's clock once asked to, as the simulator asks: an hour of
//! paused tokio time is an hour of intent expiry, however little real time passes. (Its own
//! test binary: the setting holds for the whole process.)

use std::time::Duration;

use mesh_core::unix_ms;
use mesh_net::unix_clock::{follow_tokio, now_ms};

#[tokio::test(start_paused = true)]
async fn unix_time_follows_the_paused_clock_once_asked() {
    let system = unix_ms(std::time::SystemTime::now());
    let before = now_ms();
    assert!(before.abs_diff(system) < 60_000, "the system clock first");
    assert!(follow_tokio());
    assert!(!follow_tokio(), "once per process");
    let start = now_ms();
    assert!(
        start.abs_diff(system) < 60_000,
        "starting from the system time"
    );
    tokio::time::advance(Duration::from_secs(3600)).await;
    let later = now_ms();
    assert!(
        (3_600_000..3_600_000 + 1_000).contains(&(later - start)),
        "an hour of tokio's clock is an hour: {} ms",
        later - start
    );
    let real = unix_ms(std::time::SystemTime::now());
    assert!(
        later > real + 3_000_000,
        "ahead of the system clock, which barely moved"
    );
}
