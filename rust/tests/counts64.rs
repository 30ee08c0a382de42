//! 64-bit counts: a word-frequency table whose pair counts exceed 2^32 (docs/tokenizer.md
//! section 4: "word -> count, 64-bit"). Built directly as a table, so no corpus of billions of
//! words is ever materialised.
//!
//! The counts are chosen so that any 32-bit truncation (or 32-bit sum, or 32-bit
//! delta * count) would change the merge order or the `min_frequency` cut-off; the expected
//! merges come from a naive recount-everything BPE below that does its arithmetic in u128.

use std::collections::BTreeMap;

use _fastbpe::corpus::WordCounts;
use _fastbpe::get_stats;
use _fastbpe::train::{train, TrainConfig};
use _fastbpe::word::Word;

const G: u64 = 1_000_000_000;

/// (word, count): pair counts up to 9e9 and one of 2^40, sums of words each below 2^32 that
/// exceed it, and a tie at 5e9 (broken by the smaller pair of ids).
fn table() -> Vec<(&'static str, u64)> {
    vec![
        ("cd", 4_500_000_000), // (c,d) = 4.5e9; mod 2^32 it would be ~0.2e9
        ("xy", 4 * G),         // (x,y) = 4.0e9 < 2^32: would win over a truncated (c,d)
        ("ef", 3 * G),         // (e,f) = 3e9 + 2e9 = 5e9: a sum of two counts below 2^32
        ("eff", 2 * G),
        ("gh", 5 * G),     // ties with (e,f) at 5e9; (e,f) has the smaller ids
        ("ababab", 3 * G), // (a,b) = 9e9; after it, (ab,ab) = 6e9 from deltas of 2 * 3e9
        ("zz", 1 << 40),   // (z,z) = 2^40
    ]
}

fn counts() -> WordCounts {
    let mut wc = WordCounts::new();
    for (w, c) in table() {
        wc.add_word(w, c);
    }
    wc
}

const SPECIALS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// Naive BPE per docs/tokenizer.md section 4, recounting every pair each step, in u128.
/// Returns the merges as (left, right, count).
fn naive(vocab_size: usize, min_frequency: u128) -> Vec<(String, String, u128)> {
    naive_mod(vocab_size, min_frequency, None)
}

/// `naive`, optionally with every pair count taken modulo `modulus` (a 32-bit counter).
fn naive_mod(
    vocab_size: usize,
    min_frequency: u128,
    modulus: Option<u128>,
) -> Vec<(String, String, u128)> {
    let mut vocab: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
    let mut alphabet: Vec<char> = table().iter().flat_map(|(w, _)| w.chars()).collect();
    alphabet.sort_unstable();
    alphabet.dedup();
    vocab.extend(alphabet.iter().map(|c| c.to_string()));
    let id = |vocab: &Vec<String>, s: &str| vocab.iter().position(|t| t == s).unwrap();
    let mut words: Vec<(Vec<usize>, u128)> = table()
        .iter()
        .map(|(w, c)| {
            (
                w.chars().map(|ch| id(&vocab, &ch.to_string())).collect(),
                *c as u128,
            )
        })
        .collect();
    let mut merges = Vec::new();
    while vocab.len() < vocab_size {
        let mut stats: BTreeMap<(usize, usize), u128> = BTreeMap::new();
        for (syms, c) in &words {
            for w in syms.windows(2) {
                *stats.entry((w[0], w[1])).or_insert(0) += c;
            }
        }
        if let Some(m) = modulus {
            stats.values_mut().for_each(|v| *v %= m);
        }
        // highest count; among equal counts the smallest pair (BTreeMap iterates ascending)
        let Some((&pair, &best)) = stats.iter().fold(
            None,
            |acc: Option<(&(usize, usize), &u128)>, kv| match acc {
                Some(a) if a.1 >= kv.1 => Some(a),
                _ => Some(kv),
            },
        ) else {
            break;
        };
        if best < min_frequency {
            break;
        }
        let text = format!("{}{}", vocab[pair.0], vocab[pair.1]);
        let new = match vocab.iter().position(|t| *t == text) {
            Some(i) => i,
            None => {
                vocab.push(text);
                vocab.len() - 1
            }
        };
        merges.push((vocab[pair.0].clone(), vocab[pair.1].clone(), best));
        for (syms, _) in &mut words {
            let mut out = Vec::with_capacity(syms.len());
            let mut i = 0;
            while i < syms.len() {
                if i + 1 < syms.len() && (syms[i], syms[i + 1]) == pair {
                    out.push(new);
                    i += 2;
                } else {
                    out.push(syms[i]);
                    i += 1;
                }
            }
            *syms = out;
        }
    }
    merges
}

fn trained_merges(vocab_size: usize, min_frequency: u64) -> Vec<(String, String)> {
    let cfg = TrainConfig {
        vocab_size,
        min_frequency,
        ..TrainConfig::default()
    };
    let model = train(&counts(), &cfg, None, None).expect("training works");
    let tok = model.tokens();
    model
        .merges()
        .iter()
        .map(|&((a, b), _)| (tok[a as usize].clone(), tok[b as usize].clone()))
        .collect()
}

fn strip(m: &[(String, String, u128)]) -> Vec<(String, String)> {
    m.iter().map(|(a, b, _)| (a.clone(), b.clone())).collect()
}

#[test]
fn get_stats_sums_counts_in_64_bits() {
    // a=0 b=1: "ababab" x 3e9 and "ab" x 2e9 -> (a,b) = 3*3e9 + 2e9 = 11e9, (b,a) = 6e9
    let words = vec![Word::new(vec![0, 1, 0, 1, 0, 1]), Word::new(vec![0, 1])];
    let stats = get_stats(&words, &[3 * G, 2 * G]);
    assert_eq!(stats[&(0, 1)], 11 * G);
    assert_eq!(stats[&(1, 0)], 6 * G);
    assert!(stats[&(0, 1)] > u32::MAX as u64);
}

#[test]
fn the_naive_oracle_sees_counts_above_2_pow_32() {
    let m = naive(100, 1);
    let got: Vec<(&str, &str, u128)> = m
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), *c))
        .collect();
    let want: Vec<(&str, &str, u128)> = vec![
        ("z", "z", 1 << 40),
        ("a", "b", 9_000_000_000),
        ("ab", "ab", 6_000_000_000),
        ("e", "f", 5_000_000_000),
        ("g", "h", 5_000_000_000),
        ("c", "d", 4_500_000_000),
        ("x", "y", 4_000_000_000),
        ("abab", "ab", 3_000_000_000),
        ("ef", "f", 2_000_000_000),
    ];
    assert_eq!(got, want);
}

#[test]
fn a_32_bit_counter_would_learn_other_merges() {
    // the table is sensitive: wrapping counts at 2^32 changes the merge order
    let wrapped = strip(&naive_mod(100, 1, Some(1 << 32)));
    assert_ne!(wrapped, strip(&naive(100, 1)));
    assert_ne!(trained_merges(100, 1), wrapped);
}

#[test]
fn merge_order_with_counts_above_2_pow_32() {
    let want = strip(&naive(100, 1));
    assert_eq!(trained_merges(100, 1), want);
}

#[test]
fn min_frequency_above_2_pow_32_cuts_at_the_exact_count() {
    // Merges with counts 2^40, 9e9, 6e9, 5e9, 5e9, 4.5e9 pass; (x,y) at 4.0e9 does not.
    for (min, n) in [
        (4_200_000_000u64, 6),
        (4_500_000_000, 6),
        (4_500_000_001, 5),
        (5 * G, 5),
        (5 * G + 1, 3),
        (6 * G + 1, 2),
        (1 << 40, 1),
        ((1 << 40) + 1, 0),
    ] {
        let want = strip(&naive(100, min as u128));
        assert_eq!(want.len(), n, "oracle at min_frequency={min}");
        assert_eq!(trained_merges(100, min), want, "min_frequency={min}");
    }
}

#[test]
fn vocab_size_stops_mid_way_with_big_counts() {
    let base = 5 + 11; // specials + alphabet (a b c d e f g h x y z)
    for k in 0..=9 {
        let want = strip(&naive(base + k, 1));
        assert_eq!(want.len(), k);
        assert_eq!(trained_merges(base + k, 1), want, "vocab_size={}", base + k);
    }
}
