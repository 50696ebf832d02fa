//! A cancellation the node answers OK is on disk: the store runs on a disk that loses every
//! write not synced when the power goes ([`VolatileDisk`]), whose syncs are slow, and the power
//! goes the moment the caller hears OK. The store a restart then finds holds the cancellation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::start_configured;
use mesh_core::{Intent, IntentId, Keypair};
use mesh_store::volatile::VolatileDisk;
use mesh_store::{IntentStatus, Store, StoreConfig};

/// How long each sync of the disk takes: long enough that a reply sent before the write is
/// durable comes well before it.
const SLOW_SYNC: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_answered_ok_survives_a_power_cut_at_that_moment() {
    common::init_tracing();
    let label = Path::new("cancel-durable.redb");
    let disk = VolatileDisk::new();
    let store = Store::open_with_backend(disk.backend(), label, StoreConfig::default()).unwrap();
    let node = start_configured(
        Keypair::generate_ed25519(),
        &["text-generation"],
        None,
        |mut config| {
            config.publish_wait = Duration::from_millis(100);
            config.with_store(store)
        },
    )
    .await;
    let published = node
        .handle
        .publish_intent(&Intent::new("Cancel me later").capabilities(["text-generation"]))
        .await
        .unwrap();
    let id: IntentId = published.id.parse().unwrap();

    disk.set_sync_delay(SLOW_SYNC);
    node.handle
        .cancel_intent(id, "no longer needed")
        .await
        .unwrap();
    // The power goes now: a restart finds what is durable at this instant.
    let restarted = disk.after_power_loss(false, 0);
    disk.set_sync_delay(Duration::ZERO);
    node.handle.shutdown().await.unwrap();

    let store =
        Store::open_with_backend(restarted.backend(), label, StoreConfig::default()).unwrap();
    let intent = store
        .intent(&id.0)
        .unwrap()
        .expect("the published intent is on disk");
    assert_eq!(
        intent.status,
        IntentStatus::Cancelled,
        "the cancellation answered OK was lost with the power"
    );
    assert!(store.cancellation(&id.0).unwrap().is_some());
}
