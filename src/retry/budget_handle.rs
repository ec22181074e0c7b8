//! How a retry layer holds its budget: the built-ins by value, any other
//! budget behind a trait object.

use std::fmt;

use super::aws_quota::AwsRetryQuota;
use super::budget::{AttemptEnd, RetryBudget, Withdrawal};
use super::grpc_throttle::GrpcRetryThrottle;
use super::ratio_budget::RatioBudget;

/// The budget a retry layer holds: the built-ins by value, so that their calls
/// inline (a ratio budget's `record` is nothing at all on the success path),
/// and any other budget behind a trait object.
#[derive(Clone)]
pub(crate) enum BudgetHandle {
    Ratio(RatioBudget),
    Grpc(GrpcRetryThrottle),
    Aws(AwsRetryQuota),
    Other(crate::sync::Arc<dyn RetryBudget>),
}

impl BudgetHandle {
    /// Holds `budget`, recognising the built-ins (once, when the layer is configured).
    pub(crate) fn new<B: RetryBudget + 'static>(budget: B) -> Self {
        let any: &dyn std::any::Any = &budget;
        if let Some(ratio) = any.downcast_ref::<RatioBudget>() {
            return Self::Ratio(ratio.clone());
        }
        if let Some(grpc) = any.downcast_ref::<GrpcRetryThrottle>() {
            return Self::Grpc(grpc.clone());
        }
        if let Some(aws) = any.downcast_ref::<AwsRetryQuota>() {
            return Self::Aws(aws.clone());
        }
        Self::Other(crate::sync::arc_from_box(Box::new(budget)))
    }

    /// The budget, as the trait.
    pub(crate) fn as_dyn(&self) -> &dyn RetryBudget {
        match self {
            Self::Ratio(budget) => budget,
            Self::Grpc(budget) => budget,
            Self::Aws(budget) => budget,
            Self::Other(budget) => &**budget,
        }
    }

    #[inline]
    pub(crate) fn deposit(&self) {
        match self {
            Self::Ratio(budget) => budget.deposit(),
            Self::Grpc(budget) => budget.deposit(),
            Self::Aws(budget) => budget.deposit(),
            Self::Other(budget) => budget.deposit(),
        }
    }

    #[inline]
    pub(crate) fn try_withdraw(&self, after: AttemptEnd) -> Option<Withdrawal> {
        match self {
            Self::Ratio(budget) => budget.try_withdraw(after),
            Self::Grpc(budget) => budget.try_withdraw(after),
            Self::Aws(budget) => budget.try_withdraw(after),
            Self::Other(budget) => budget.try_withdraw(after),
        }
    }

    #[inline]
    pub(crate) fn record(&self, end: AttemptEnd, paid: Option<Withdrawal>) {
        match self {
            Self::Ratio(budget) => budget.record(end, paid),
            Self::Grpc(budget) => budget.record(end, paid),
            Self::Aws(budget) => budget.record(end, paid),
            Self::Other(budget) => budget.record(end, paid),
        }
    }

    pub(crate) fn level(&self) -> f64 {
        self.as_dyn().level()
    }
}

impl fmt::Debug for BudgetHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_dyn().fmt(f)
    }
}
