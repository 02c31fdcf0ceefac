//! One error type for the library; `web.rs` turns it into a JS `Error` with the same message.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The caller passed something malformed (event, candidate, context, option).
    Input(String),
    /// The model files are missing, corrupted, or of another format version.
    Model(String),
    /// The compute backend could not be set up or failed while running.
    Backend(String),
}

impl Error {
    pub fn input(msg: impl Into<String>) -> Self {
        Self::Input(msg.into())
    }
    pub fn model(msg: impl Into<String>) -> Self {
        Self::Model(msg.into())
    }
    pub fn backend(msg: impl Into<String>) -> Self {
        Self::Backend(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Input(m) => write!(f, "localrank: invalid input: {m}"),
            Self::Model(m) => write!(f, "localrank: model: {m}"),
            Self::Backend(m) => write!(f, "localrank: backend: {m}"),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
