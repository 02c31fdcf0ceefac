//! A fixed, seedable hash for decisions that must be the same in every run and epoch (which
//! requests drop a context field, the order of same-second events) without an RNG's state.

/// splitmix64 over the words of `key`.
pub fn mix(key: &[u64]) -> u64 {
    key.iter().fold(0x9e37_79b9_7f4a_7c15u64, |h, &w| {
        let mut z = (h ^ w).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}
