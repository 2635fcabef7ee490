//! Retry timing for calls to the issuer: exponential backoff with jitter, so a fleet of
//! workers that lost the issuer together does not hammer it together when it returns.

/// The delay before retry number `failures` (1 for the first retry), in milliseconds:
/// `base · 2^(failures-1)` capped at `max`, minus up to a fifth as jitter drawn from `seed`.
pub fn delay_ms(failures: u32, base_ms: u64, max_ms: u64, seed: u64) -> u64 {
    let exponent = failures.saturating_sub(1).min(20);
    let delay = base_ms.saturating_mul(1 << exponent).min(max_ms);
    // A cheap mix of the seed (time, context) is plenty: jitter spreads load, it secures nothing.
    let mixed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    delay - (mixed % (delay / 5 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_up_to_the_cap_with_bounded_jitter() {
        for seed in [0, 1, 12_345, u64::MAX] {
            let first = delay_ms(1, 500, 30_000, seed);
            assert!((400..=500).contains(&first), "{first}");
            let third = delay_ms(3, 500, 30_000, seed);
            assert!((1600..=2000).contains(&third), "{third}");
            let capped = delay_ms(40, 500, 30_000, seed);
            assert!((24_000..=30_000).contains(&capped), "{capped}");
        }
    }
}
