//! `HealthRegistry::shutdown_signal` on a real SIGTERM. In its own test binary,
//! so the signal reaches no other test.
#![cfg(all(unix, not(loom)))]

use std::time::Duration;

use seawall::health::{HealthRegistry, Lifecycle};
use tokio::signal::unix::{signal, SignalKind};

/// One test only: a SIGTERM reaches every listener in the process.
#[tokio::test(flavor = "current_thread")]
async fn shutdown_signal_ends_on_a_shutdown_call_or_on_sigterm() {
    // A plain `shutdown()` ends the wait too.
    {
        let health = HealthRegistry::new();
        let waiting = tokio::spawn({
            let health = health.clone();
            async move { health.shutdown_signal().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        health.shutdown();
        tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(health.lifecycle(), Lifecycle::Draining);
    }

    // Installs tokio's SIGTERM handler first, so the signal can never end the
    // test process, whatever the order below.
    let mut ours = signal(SignalKind::terminate()).unwrap();

    let health = HealthRegistry::new();
    health.mark_started();
    let waiting = tokio::spawn({
        let health = health.clone();
        async move { health.shutdown_signal().await }
    });
    // Let the spawned task poll once, which registers its listeners.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(health.lifecycle(), Lifecycle::Serving);

    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("shutdown_signal did not see SIGTERM within 10 s")
        .unwrap();
    assert_eq!(health.lifecycle(), Lifecycle::Draining);
    assert!(!health.summary().ready);
    assert!(health.live());
    tokio::time::timeout(Duration::from_secs(10), ours.recv())
        .await
        .unwrap();
}
