//! The reason codes, both ways between `jitgate_grant::Reason` and the WIT `reason` enum.
//! Two exhaustive matches rather than a lookup table, so adding a reason to the core fails
//! to compile here until the WIT (and every host) learns it.

use jitgate_grant::Reason;

use crate::bindings::exports::jitgate::policy::types::Reason as WitReason;

/// The WIT case for a core reason.
pub fn to_wit(reason: Reason) -> WitReason {
    match reason {
        Reason::Granted => WitReason::Granted,
        Reason::PublicRoute => WitReason::PublicRoute,
        Reason::AuthenticatedUnmatched => WitReason::AuthenticatedUnmatched,
        Reason::DuplicateToken => WitReason::DuplicateToken,
        Reason::AmbiguousPath => WitReason::AmbiguousPath,
        Reason::ModelMissing => WitReason::ModelMissing,
        Reason::ModelNotString => WitReason::ModelNotString,
        Reason::ModelDuplicated => WitReason::ModelDuplicated,
        Reason::ModelInvalid => WitReason::ModelInvalid,
        Reason::BodyNotJson => WitReason::BodyNotJson,
        Reason::BodyTooLarge => WitReason::BodyTooLarge,
        Reason::UnsupportedMediaType => WitReason::UnsupportedMediaType,
        Reason::MissingToken => WitReason::MissingToken,
        Reason::TokenTooLarge => WitReason::TokenTooLarge,
        Reason::MalformedToken => WitReason::MalformedToken,
        Reason::WrongTokenType => WitReason::WrongTokenType,
        Reason::UnsupportedAlgorithm => WitReason::UnsupportedAlgorithm,
        Reason::UnsupportedHeader => WitReason::UnsupportedHeader,
        Reason::MissingKeyId => WitReason::MissingKeyId,
        Reason::UnknownKey => WitReason::UnknownKey,
        Reason::AlgorithmMismatch => WitReason::AlgorithmMismatch,
        Reason::BadSignature => WitReason::BadSignature,
        Reason::InvalidClaims => WitReason::InvalidClaims,
        Reason::Expired => WitReason::Expired,
        Reason::NotYetValid => WitReason::NotYetValid,
        Reason::WrongIssuer => WitReason::WrongIssuer,
        Reason::WrongAudience => WitReason::WrongAudience,
        Reason::Revoked => WitReason::Revoked,
        Reason::NoRoute => WitReason::NoRoute,
        Reason::InsufficientScope => WitReason::InsufficientScope,
        Reason::BudgetExhausted => WitReason::BudgetExhausted,
        Reason::KeysUnavailable => WitReason::KeysUnavailable,
        Reason::AuditUnavailable => WitReason::AuditUnavailable,
        Reason::RevocationUnavailable => WitReason::RevocationUnavailable,
        Reason::BudgetUnavailable => WitReason::BudgetUnavailable,
    }
}

/// The core reason for a WIT case.
pub fn from_wit(reason: WitReason) -> Reason {
    match reason {
        WitReason::Granted => Reason::Granted,
        WitReason::PublicRoute => Reason::PublicRoute,
        WitReason::AuthenticatedUnmatched => Reason::AuthenticatedUnmatched,
        WitReason::DuplicateToken => Reason::DuplicateToken,
        WitReason::AmbiguousPath => Reason::AmbiguousPath,
        WitReason::ModelMissing => Reason::ModelMissing,
        WitReason::ModelNotString => Reason::ModelNotString,
        WitReason::ModelDuplicated => Reason::ModelDuplicated,
        WitReason::ModelInvalid => Reason::ModelInvalid,
        WitReason::BodyNotJson => Reason::BodyNotJson,
        WitReason::BodyTooLarge => Reason::BodyTooLarge,
        WitReason::UnsupportedMediaType => Reason::UnsupportedMediaType,
        WitReason::MissingToken => Reason::MissingToken,
        WitReason::TokenTooLarge => Reason::TokenTooLarge,
        WitReason::MalformedToken => Reason::MalformedToken,
        WitReason::WrongTokenType => Reason::WrongTokenType,
        WitReason::UnsupportedAlgorithm => Reason::UnsupportedAlgorithm,
        WitReason::UnsupportedHeader => Reason::UnsupportedHeader,
        WitReason::MissingKeyId => Reason::MissingKeyId,
        WitReason::UnknownKey => Reason::UnknownKey,
        WitReason::AlgorithmMismatch => Reason::AlgorithmMismatch,
        WitReason::BadSignature => Reason::BadSignature,
        WitReason::InvalidClaims => Reason::InvalidClaims,
        WitReason::Expired => Reason::Expired,
        WitReason::NotYetValid => Reason::NotYetValid,
        WitReason::WrongIssuer => Reason::WrongIssuer,
        WitReason::WrongAudience => Reason::WrongAudience,
        WitReason::Revoked => Reason::Revoked,
        WitReason::NoRoute => Reason::NoRoute,
        WitReason::InsufficientScope => Reason::InsufficientScope,
        WitReason::BudgetExhausted => Reason::BudgetExhausted,
        WitReason::KeysUnavailable => Reason::KeysUnavailable,
        WitReason::AuditUnavailable => Reason::AuditUnavailable,
        WitReason::RevocationUnavailable => Reason::RevocationUnavailable,
        WitReason::BudgetUnavailable => Reason::BudgetUnavailable,
    }
}
