//! The runtime's WordPiece (`localrank::wordpiece`) reading the shipped compact vocabulary file
//! `models/vocab.txt` against Hugging Face `tokenizers` 0.23 reading the same vocabulary as
//! `tokenizer.json` (`wordpiece::tokenizer_json`): every catalogue title as the model reads it,
//! edge cases, and seeded random strings over the Unicode ranges where BERT's normaliser does
//! something. (The compact file's ids are the full MiniLM tokenizer.json's, renumbered:
//! `localrank-train compact` checks that on every catalogue text.)

use std::path::PathBuf;

use localrank::features::item_text;
use localrank::wordpiece::WordPiece;
use tokenizers::Tokenizer;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// Both tokenizers; `tokenizers`' padding and truncation (to 128, from the teacher's file) are
/// switched off, since `TextEncoder` pads and truncates the ids itself.
fn tokenizers() -> (WordPiece, Tokenizer) {
    let bytes = std::fs::read(repo("models/vocab.txt")).unwrap();
    let json = localrank::wordpiece::tokenizer_json(&bytes).unwrap();
    let mut hf = Tokenizer::from_bytes(json.as_bytes()).unwrap();
    hf.with_padding(None).with_truncation(None).unwrap();
    (WordPiece::from_bytes(&bytes).unwrap(), hf)
}

fn assert_same(ours: &WordPiece, hf: &Tokenizer, text: &str) {
    let expected = hf.encode(text, false).unwrap().get_ids().to_vec();
    assert_eq!(ours.encode(text), expected, "ids differ for {text:?}");
}

#[test]
fn catalogue_titles_and_categories_tokenise_as_tokenizers_does() {
    let (ours, hf) = tokenizers();
    let catalog: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo("www/data/catalog.json")).unwrap()).unwrap();
    let items = catalog["items"].as_array().unwrap();
    assert!(items.len() > 1000, "catalogue has {} items", items.len());
    for item in items {
        let (title, category) = (item["title"].as_str().unwrap(), item["category"].as_str().unwrap());
        assert_same(&ours, &hf, &item_text(title, category));
    }
    assert_eq!(ours.vocab_size(), hf.get_vocab_size(true));
}

#[test]
fn edge_cases_tokenise_as_tokenizers_does() {
    let (ours, hf) = tokenizers();
    let long = "a".repeat(101);
    let cases = [
        "", " ", "\t\n\r", "Amélie (2001)", "Señor Über-Café!!", "naïve façade", "İstanbul ŞEHİR",
        "東京物語 (1953)", "Crouching Tiger, 隠れた龍", "emoji 😀👍🏽 test", "zero\u{200b}width\u{feff}bom",
        "ctrl\u{0}\u{7}\u{1b}chars\u{fffd}", "[MASK] me [CLS][SEP] x[PAD]y [UNK]", "[mask] lower",
        "unaffable unbelievably antidisestablishmentarianism", &long, "3.5\" floppy — 50% off…",
        "¿Qué? ¡Sí! «quoted» „low“", "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ", "ﬁligature Ⅻ ㎏", "tab\tand  double  space",
        "Ǆemal ǅ ǆ", "ß ẞ ﬀ", "Ⓐ ⓑ", "ÅNGSTRÖM Ω Ω", "x\u{301}\u{302}y", "한국어 영화", "Привет, мир",
    ];
    for text in cases {
        assert_same(&ours, &hf, text);
    }
}

#[test]
fn random_unicode_tokenises_as_tokenizers_does() {
    let (ours, hf) = tokenizers();
    // Ranges where the normaliser and pre-tokeniser branch: ASCII, Latin-1 and Latin Extended
    // (accents), combining marks, general punctuation, controls and formats, CJK, Hangul, emoji.
    let ranges: [(u32, u32); 10] = [
        (0x20, 0x7e), (0x00, 0x1f), (0xa0, 0x24f), (0x300, 0x36f), (0x370, 0x4ff),
        (0x2000, 0x206f), (0x3000, 0x30ff), (0x4e00, 0x4eff), (0xac00, 0xacff), (0x1f300, 0x1f64f),
    ];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: u32| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as u32
    };
    for _ in 0..3_000 {
        let len = 1 + next(40);
        let text: String = (0..len)
            .filter_map(|_| {
                // Mostly ASCII letters and spaces, so that real words and subwords occur.
                let (lo, hi) = if next(3) > 0 { (0x20, 0x7e) } else { ranges[next(10) as usize] };
                char::from_u32(lo + next(hi - lo + 1))
            })
            .collect();
        assert_same(&ours, &hf, &text);
    }
}
