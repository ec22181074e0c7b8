//! Classifying gRPC responses by the `grpc-status` header.

use super::{outcome_of_error, Classify, Outcome};

/// A gRPC status code, as carried by the `grpc-status` header.
///
/// ```
/// use seawall::classify::GrpcCode;
///
/// assert_eq!(GrpcCode::from_header(b"14"), Some(GrpcCode::Unavailable));
/// assert_eq!(GrpcCode::from_i32(99), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum GrpcCode {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl GrpcCode {
    const ALL: [GrpcCode; 17] = [
        Self::Ok,
        Self::Cancelled,
        Self::Unknown,
        Self::InvalidArgument,
        Self::DeadlineExceeded,
        Self::NotFound,
        Self::AlreadyExists,
        Self::PermissionDenied,
        Self::ResourceExhausted,
        Self::FailedPrecondition,
        Self::Aborted,
        Self::OutOfRange,
        Self::Unimplemented,
        Self::Internal,
        Self::Unavailable,
        Self::DataLoss,
        Self::Unauthenticated,
    ];

    /// The code with this number; `None` outside `0..=16`.
    pub fn from_i32(code: i32) -> Option<Self> {
        usize::try_from(code)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }

    /// Parses a `grpc-status` header value: ASCII digits only.
    pub fn from_header(value: &[u8]) -> Option<Self> {
        if value.is_empty() || value.len() > 2 || !value.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let code = value.iter().fold(0i32, |n, d| n * 10 + i32::from(d - b'0'));
        Self::from_i32(code)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// Classifies gRPC responses by the `grpc-status` header of an
/// `http::Response` (trailers-only responses carry it there, which is how
/// servers send errors without a body).
///
/// By default `UNAVAILABLE`, `DEADLINE_EXCEEDED`, `INTERNAL`, `UNKNOWN`,
/// `RESOURCE_EXHAUSTED` and `DATA_LOSS` are failures; every other code, and
/// a response without the header, is a success. Transport errors fail.
///
/// ```
/// use seawall::classify::{Classify, GrpcCode, GrpcStatus, Outcome};
///
/// let classify = GrpcStatus::default().without(GrpcCode::ResourceExhausted);
/// let response = http::Response::builder().header("grpc-status", "14").body(()).unwrap();
/// let result: Result<_, std::io::Error> = Ok(response);
/// assert_eq!(classify.classify(&result), Outcome::Failure);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct GrpcStatus {
    failures: u32,
}

impl GrpcStatus {
    /// No code fails; add them with [`with`](Self::with).
    pub fn none() -> Self {
        Self { failures: 0 }
    }

    /// Also count `code` as a failure.
    pub fn with(mut self, code: GrpcCode) -> Self {
        self.failures |= code.bit();
        self
    }

    /// Do not count `code` as a failure.
    pub fn without(mut self, code: GrpcCode) -> Self {
        self.failures &= !code.bit();
        self
    }

    /// The outcome of a call that ended with `code`.
    pub fn outcome_of_code(&self, code: GrpcCode) -> Outcome {
        if self.failures & code.bit() != 0 {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }
}

impl Default for GrpcStatus {
    fn default() -> Self {
        Self::none()
            .with(GrpcCode::Unavailable)
            .with(GrpcCode::DeadlineExceeded)
            .with(GrpcCode::Internal)
            .with(GrpcCode::Unknown)
            .with(GrpcCode::ResourceExhausted)
            .with(GrpcCode::DataLoss)
    }
}

impl<B, E: 'static> Classify<http::Response<B>, E> for GrpcStatus {
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        match result {
            Ok(response) => match response.headers().get("grpc-status") {
                Some(value) => match GrpcCode::from_header(value.as_bytes()) {
                    Some(code) => self.outcome_of_code(code),
                    // A status no gRPC peer may send: the response is broken.
                    None => Outcome::Failure,
                },
                None => Outcome::Success,
            },
            Err(err) => outcome_of_error(err),
        }
    }
}
