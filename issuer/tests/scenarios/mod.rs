//! API scenarios that run on every storage backend: `api.rs` runs them on SQLite,
//! `postgres.rs` on PostgreSQL, through [`scenario_tests!`].
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod budgets;
pub mod feed;
pub mod guard;
pub mod lifecycle;
pub mod refusals;
pub mod replays;

/// Declares one `#[tokio::test]` per scenario, each on a fresh issuer from `$make`.
#[macro_export]
macro_rules! scenario_tests {
    ($make:expr) => {
        $crate::scenario_tests!($make;
            lifecycle::auto_approved_grant_yields_tokens_until_revoked,
            lifecycle::one_reviewer_starts_the_window_at_approval,
            lifecycle::break_glass_needs_two_reviewers_and_is_flagged,
            lifecycle::one_denial_ends_the_request,
            lifecycle::pending_requests_expire_after_the_ttl,
            lifecycle::grants_expire_at_the_window_end,
            lifecycle::token_expiry_is_the_earlier_of_window_and_ttl,
            lifecycle::requester_cancels_a_pending_request,
            lifecycle::reviewers_and_admins_revoke_too,
            lifecycle::feed_pages_with_its_cursor,
            feed::feed_pages_say_more_until_the_last,
            feed::feed_serves_and_keeps_only_revocations_that_can_still_matter,
            feed::feed_refuses_a_cursor_from_another_database_or_past_its_head,
            refusals::self_review_is_refused_for_every_role,
            refusals::strangers_see_nothing,
            refusals::only_the_grantee_gets_tokens,
            refusals::policy_refusals_are_precise,
            refusals::validation_refusals_name_the_field,
            refusals::feed_requires_the_data_plane_credential,
            refusals::double_reviews_and_late_reviews_conflict,
            replays::late_and_replayed_reviews_change_nothing,
            replays::replayed_revocations_and_mints_after_revocation_change_nothing,
            budgets::policy_budgets_are_applied_shown_and_carried_in_tokens,
            budgets::limits_beyond_policy_are_refused_naming_the_field_and_nothing_is_stored,
            guard::the_guard_revokes_any_grant_under_its_own_name,
            guard::alerts_are_stored_once_per_firing_and_shown_in_the_history,
            guard::alerts_are_listed_for_admins_and_reviewers,
            guard::usage_keeps_the_newest_snapshot,
        );
    };
    ($make:expr; $($module:ident :: $name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let issuer = $make.await;
                scenarios::$module::$name(&issuer).await;
            }
        )+
    };
}
