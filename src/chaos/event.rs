//! What a chaos handle tells its listeners.

use super::fault::FaultKind;

/// Something a [`Chaos`](super::Chaos) did, as heard by the listeners given
/// to [`Chaos::on_event`](super::Chaos::on_event).
///
/// Built only for a call that gets a fault, and only when someone listens.
///
/// ```
/// use seawall::chaos::{Chaos, ChaosConfig, ChaosEvent, ChaosService, Fault, FaultKind};
/// use std::sync::{Arc, Mutex};
/// use tower::{service_fn, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), seawall::BoxError> {
/// let chaos = Chaos::new(ChaosConfig::builder().name("inventory").fault(Fault::error(1.0)).build()?);
/// let heard = Arc::new(Mutex::new(Vec::new()));
/// let log = heard.clone();
/// chaos.on_event(move |event: &ChaosEvent<'_>| {
///     if let ChaosEvent::Injected { name, fault } = event {
///         log.lock().unwrap().push((name.to_string(), *fault));
///     }
/// });
/// let mut service = ChaosService::new(service_fn(|n: u32| async move { Ok::<_, std::io::Error>(n) }), chaos);
/// let _ = service.ready().await?.call(1).await;
/// assert_eq!(*heard.lock().unwrap(), [("inventory".to_string(), FaultKind::Error)]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChaosEvent<'a> {
    /// A fault was injected into a call.
    Injected {
        /// The chaos handle's name.
        name: &'a str,
        /// What it injected.
        fault: FaultKind,
    },
}
