//! Files (docs/tokenizer.md section 7): `vocab.json`, `merges.txt`, `fastbpe.json`.
//!
//! Loading rebuilds the model exactly the way training built it (specials, byte tokens, the
//! other tokens in id order, then the merges) and checks each file against the others, naming
//! the file and the 1-based line that is wrong.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::json::parse_flat_json;
use crate::normalize::{Lowercase, Normalizer};
use crate::vocab::{Model, UNK};

pub const VOCAB_FILE: &str = "vocab.json";
pub const MERGES_FILE: &str = "merges.txt";
pub const CONFIG_FILE: &str = "fastbpe.json";
const MERGES_HEADER: &str = "#version: 0.2";

/// The contents of `fastbpe.json`. The optional normalisation is written only when set
/// (`normalization: "nfkc"`, `lowercase: "default" | "tr"`, `strip_accents: true`), so a
/// missing key means off and files of the default configuration are unchanged.
#[derive(Debug, Serialize, Deserialize)]
struct Config {
    format: u32,
    normalization: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lowercase: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    strip_accents: bool,
    space_marker: String,
    pre_tokenizer: String,
    special_tokens: Vec<String>,
    unk_token: String,
    byte_fallback: bool,
}

/// `vocab.json`: `{token: id}` sorted by id, one entry per line.
pub fn vocab_json(model: &Model) -> String {
    let mut out = String::from("{\n");
    let n = model.len();
    for (id, tok) in model.tokens().iter().enumerate() {
        let key = serde_json::to_string(tok).expect("strings serialise");
        let comma = if id + 1 < n { "," } else { "" };
        out.push_str(&format!("  {key}: {id}{comma}\n"));
    }
    out.push_str("}\n");
    out
}

/// `merges.txt`: the header, then `left right` per merge in rank order.
pub fn merges_txt(model: &Model) -> String {
    let mut out = format!("{MERGES_HEADER}\n");
    for &((a, b), _) in model.merges() {
        out.push_str(&model.tokens()[a as usize]);
        out.push(' ');
        out.push_str(&model.tokens()[b as usize]);
        out.push('\n');
    }
    out
}

/// `fastbpe.json`: everything besides vocab and merges that encoding depends on.
pub fn config_json(model: &Model) -> String {
    let norm = model.normalizer();
    let cfg = Config {
        format: 1,
        normalization: if norm.nfkc { "nfkc" } else { "nfc" }.into(),
        lowercase: norm.lowercase.name().map(String::from),
        strip_accents: norm.strip_accents,
        space_marker: "\u{2581}".into(),
        pre_tokenizer: "fastbpe-v1".into(),
        special_tokens: model.specials().to_vec(),
        unk_token: UNK.into(),
        byte_fallback: model.byte_fallback(),
    };
    let mut s = serde_json::to_string_pretty(&cfg).expect("config serialises");
    s.push('\n');
    s
}

/// Writes the three files into `dir` (created if needed), each via a temporary file + rename.
pub fn save(model: &Model, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for (name, text) in [
        (VOCAB_FILE, vocab_json(model)),
        (MERGES_FILE, merges_txt(model)),
        (CONFIG_FILE, config_json(model)),
    ] {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

fn read(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| Error::InvalidUtf8 {
        path: path.into(),
        offset: e.utf8_error().valid_up_to() as u64,
    })
}

/// Loads and validates a saved tokenizer.
pub fn load(dir: &Path) -> Result<Model> {
    if !dir.is_dir() {
        return Err(Error::FileNotFound { path: dir.into() });
    }
    let (vocab_path, merges_path, config_path) = (
        dir.join(VOCAB_FILE),
        dir.join(MERGES_FILE),
        dir.join(CONFIG_FILE),
    );
    let cfg = parse_config(&read(&config_path)?, &config_path)?;
    let mut model = Model::new(&cfg.special_tokens, cfg.byte_fallback)
        .map_err(|e| Error::corrupt(&config_path, 0, e.to_string()))?;
    model.set_normalizer(Normalizer {
        lowercase: Lowercase::from_name(cfg.lowercase.as_deref()).expect("checked"),
        strip_accents: cfg.strip_accents,
        nfkc: cfg.normalization == "nfkc",
    });
    let lines = load_vocab(&mut model, &read(&vocab_path)?, &vocab_path, &config_path)?;
    load_merges(&mut model, &read(&merges_path)?, &merges_path)?;
    check_every_token_is_produced(&model, &lines, &vocab_path)?;
    Ok(model)
}

fn parse_config(text: &str, path: &Path) -> Result<Config> {
    let cfg: Config = serde_json::from_str(text)
        .map_err(|e| Error::corrupt(path, e.line(), format!("not a valid config: {e}")))?;
    let expect = |ok: bool, what: &str| -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(Error::corrupt(
                path,
                0,
                format!("unsupported {what}; this file was not written by this version of fastbpe"),
            ))
        }
    };
    expect(cfg.format == 1, &format!("format {}", cfg.format))?;
    expect(
        cfg.normalization == "nfc" || cfg.normalization == "nfkc",
        &format!("normalization {:?}", cfg.normalization),
    )?;
    expect(
        Lowercase::from_name(cfg.lowercase.as_deref()).is_some(),
        &format!("lowercase {:?}", cfg.lowercase),
    )?;
    expect(
        cfg.space_marker == "\u{2581}",
        &format!("space_marker {:?}", cfg.space_marker),
    )?;
    expect(
        cfg.pre_tokenizer == "fastbpe-v1",
        &format!("pre_tokenizer {:?}", cfg.pre_tokenizer),
    )?;
    expect(
        cfg.unk_token == UNK,
        &format!("unk_token {:?}", cfg.unk_token),
    )?;
    Ok(cfg)
}

/// Adds the tokens of `vocab.json` to `model`; returns the 1-based line of each id.
fn load_vocab(
    model: &mut Model,
    text: &str,
    path: &Path,
    config_path: &Path,
) -> Result<Vec<usize>> {
    let entries = parse_flat_json(text, path)?;
    let mut by_id: Vec<Option<(&str, usize)>> = vec![None; entries.len()];
    for (tok, id, line) in &entries {
        let slot = usize::try_from(*id)
            .ok()
            .and_then(|i| by_id.get_mut(i))
            .ok_or_else(|| {
                Error::corrupt(
                    path,
                    *line,
                    format!(
                        "id {id} of {tok:?} is out of range: {} tokens need ids 0..{}",
                        entries.len(),
                        entries.len()
                    ),
                )
            })?;
        if let Some((other, _)) = slot {
            return Err(Error::corrupt(
                path,
                *line,
                format!("id {id} is used twice ({other:?} and {tok:?})"),
            ));
        }
        *slot = Some((tok.as_str(), *line));
    }
    // ids are now unique and within 0..n, so none is missing
    let base = model.len();
    if by_id.len() < base {
        return Err(Error::corrupt(config_path, 0, format!(
            "{} has {} tokens, fewer than the {base} special tokens (plus byte tokens \
             <0x00>..<0xFF> with byte_fallback) this config declares; the files do not belong together",
            VOCAB_FILE, by_id.len()
        )));
    }
    let mut lines = Vec::with_capacity(by_id.len());
    for (id, slot) in by_id.into_iter().enumerate() {
        let (tok, line) = slot.expect("every id is filled");
        lines.push(line);
        if id < base {
            let want = &model.tokens()[id];
            if tok != want {
                return Err(Error::corrupt(path, line, format!(
                    "id {id} is {tok:?} but {} puts {want:?} there (special tokens, then byte \
                     tokens <0x00>..<0xFF> if byte_fallback, come first); the files do not belong together",
                    CONFIG_FILE
                )));
            }
        } else if tok.is_empty() {
            return Err(Error::corrupt(
                path,
                line,
                "the empty string is not a token",
            ));
        } else if model.add_token(tok.to_owned()) as usize != id {
            return Err(Error::corrupt(
                path,
                line,
                format!("token {tok:?} appears twice"),
            ));
        }
    }
    Ok(lines)
}

fn load_merges(model: &mut Model, text: &str, path: &Path) -> Result<()> {
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        if line.is_empty() || (i == 0 && line.starts_with("#version")) {
            continue;
        }
        let mut parts = line.split(' ');
        let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Error::corrupt(
                path,
                lineno,
                format!("expected two tokens separated by one space, got {line:?}"),
            ));
        };
        let id = |t: &str| {
            model.id(t).ok_or_else(|| {
                Error::corrupt(
                    path,
                    lineno,
                    format!("merge {line:?} uses {t:?}, which is not in {VOCAB_FILE}"),
                )
            })
        };
        let (ia, ib) = (id(a)?, id(b)?);
        if model.id(&format!("{a}{b}")).is_none() {
            return Err(Error::corrupt(
                path,
                lineno,
                format!(
                    "the result {:?} of merge {line:?} is not in {VOCAB_FILE}",
                    format!("{a}{b}")
                ),
            ));
        }
        model.add_merge((ia, ib));
    }
    Ok(())
}

/// Every token after the specials and byte tokens is one character (the alphabet) or the
/// result of a merge, as training makes them (extension included: the initial tokenizer's
/// tokens obey the same rule). A merged token that no merge produces means `merges.txt` lost
/// lines (typically at its end: each remaining line still checks) or belongs to other files.
fn check_every_token_is_produced(model: &Model, lines: &[usize], path: &Path) -> Result<()> {
    let mut produced = vec![false; model.len()];
    for &(_, id) in model.merges() {
        produced[id as usize] = true;
    }
    // load_vocab checked that the specials, then the byte tokens, hold exactly these ids
    let base = model.specials().len() + if model.byte_fallback() { 256 } else { 0 };
    for (id, tok) in model.tokens().iter().enumerate().skip(base) {
        if !produced[id] && tok.chars().nth(1).is_some() {
            return Err(Error::corrupt(
                path,
                lines[id],
                format!(
                    "token {tok:?} (id {id}) is not produced by any merge in {MERGES_FILE} \
                     ({MERGES_FILE} truncated?); besides special and byte tokens, a token is \
                     one character or the result of a merge"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::WordCounts;
    use crate::train::{train, TrainConfig};
    use std::path::PathBuf;

    fn model(byte_fallback: bool) -> Model {
        let mut wc = WordCounts::new();
        wc.add_texts(&["low lower \"lowest\"\n\tnewer ışık ışık"]);
        let cfg = TrainConfig {
            vocab_size: 300 + 30,
            min_frequency: 1,
            byte_fallback,
            ..Default::default()
        };
        train(&wc, &cfg, None, None).unwrap()
    }

    #[test]
    fn normalizer_roundtrip() {
        use crate::normalize::{Lowercase, Normalizer};
        let plain = config_json(&model(false));
        assert!(!plain.contains("lowercase") && !plain.contains("strip_accents"));
        for (i, lowercase) in [Lowercase::Off, Lowercase::Unicode, Lowercase::Turkish]
            .into_iter()
            .enumerate()
        {
            let norm = Normalizer {
                lowercase,
                strip_accents: i != 1,
                nfkc: i != 0,
            };
            let mut m = model(false);
            m.set_normalizer(norm);
            let d = tmpdir(&format!("norm{i}"));
            save(&m, &d).unwrap();
            assert_eq!(load(&d).unwrap().normalizer(), norm);
            let _ = std::fs::remove_dir_all(&d);
        }
        let e = corrupt(CONFIG_FILE, |s| {
            s.replacen("\"nfc\",", "\"nfc\", \"lowercase\": \"de\",", 1)
        });
        assert!(e.contains("fastbpe.json") && e.contains("lowercase"), "{e}");
    }

    /// A fresh directory name, unique per call: tests run in parallel threads, and two of them
    /// once picked the same name and overwrote each other's files.
    fn tmpdir(name: &str) -> PathBuf {
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let k = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("fastbpe-io-{}-{k}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn roundtrip() {
        for bf in [false, true] {
            let m = model(bf);
            let d = tmpdir(&format!("rt{bf}"));
            save(&m, &d).unwrap();
            let back = load(&d).unwrap();
            assert_eq!(back.tokens(), m.tokens());
            assert_eq!(back.merges(), m.merges());
            assert_eq!(back.byte_fallback(), bf);
            assert!(std::fs::read_to_string(d.join(MERGES_FILE))
                .unwrap()
                .starts_with("#version: 0.2\n"));
            let _ = std::fs::remove_dir_all(&d);
        }
    }

    #[test]
    fn merges_that_lost_lines_at_the_end_are_detected() {
        for bf in [false, true] {
            let m = model(bf);
            let d = tmpdir(&format!("trunc{bf}"));
            save(&m, &d).unwrap();
            let p = d.join(MERGES_FILE);
            let text = std::fs::read_to_string(&p).unwrap();
            let kept: Vec<&str> = text.lines().collect();
            let kept = &kept[..kept.len() - 3];
            std::fs::write(&p, kept.join("\n") + "\n").unwrap();
            // the result of the first lost merge is the first token nothing produces
            let (_, id) = m.merges()[kept.len() - 1];
            let tok = &m.tokens()[id as usize];
            let e = load(&d).unwrap_err().to_string();
            let want = format!(
                "vocab.json:{}: token {tok:?} (id {id}) is not produced by any merge in merges.txt",
                id + 2
            );
            assert!(e.contains(&want) && e.contains("truncated"), "{e}");
            let _ = std::fs::remove_dir_all(&d);
        }
    }

    #[test]
    fn extension_and_limit_alphabet_still_load() {
        let mut wc = WordCounts::new();
        wc.add_texts(&["zebra quagga zebra ışık"]);
        let cfg = TrainConfig {
            vocab_size: 400,
            min_frequency: 1,
            limit_alphabet: Some(3),
            ..Default::default()
        };
        let ext = train(&wc, &cfg, Some(&model(true)), None).unwrap();
        let d = tmpdir("ext");
        save(&ext, &d).unwrap();
        assert_eq!(load(&d).unwrap().tokens(), ext.tokens());
        let _ = std::fs::remove_dir_all(&d);
    }

    fn corrupt(file: &str, edit: impl Fn(String) -> String) -> String {
        let d = tmpdir(&format!("bad-{file}-{}", edit(String::from("x")).len()));
        save(&model(false), &d).unwrap();
        let p = d.join(file);
        std::fs::write(&p, edit(std::fs::read_to_string(&p).unwrap())).unwrap();
        let e = load(&d).unwrap_err().to_string();
        let _ = std::fs::remove_dir_all(&d);
        e
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = corrupt(VOCAB_FILE, |s| s.replacen(": 7,", ": 6,", 1));
        assert!(
            e.contains("vocab.json:9") && e.contains("used twice"),
            "{e}"
        );
        let e = corrupt(VOCAB_FILE, |s| s.replacen(": 7,", ": 700,", 1));
        assert!(
            e.contains("vocab.json:9") && e.contains("out of range"),
            "{e}"
        );
        let e = corrupt(VOCAB_FILE, |s| s.replacen("\"[PAD]\": 0", "\"[PAD]\" 0", 1));
        assert!(e.contains("vocab.json:2"), "{e}");
        let e = corrupt(MERGES_FILE, |s| s.replacen("\n", "\nzz qq\n", 1));
        assert!(e.contains("merges.txt:2") && e.contains("\"zz\""), "{e}");
        let e = corrupt(MERGES_FILE, |s| s + "l o w\n");
        assert!(e.contains("merges.txt:") && e.contains("two tokens"), "{e}");
        let e = corrupt(MERGES_FILE, |s| s + "w l\n");
        assert!(
            e.contains("\"wl\"") && e.contains("not in vocab.json"),
            "{e}"
        );
        let e = corrupt(CONFIG_FILE, |s| {
            s.replace("\"[MASK]\"", "\"[MASK]\", \"[X]\"")
        });
        assert!(
            e.contains("vocab.json") && e.contains("do not belong together"),
            "{e}"
        );
        let e = corrupt(CONFIG_FILE, |s| s.replacen("\"[UNK]\",", "", 1));
        assert!(e.contains("fastbpe.json") && e.contains("[UNK]"), "{e}");
        let e = corrupt(CONFIG_FILE, |s| {
            s.replace("true", "tru").replace("false", "fals")
        });
        assert!(
            e.contains("fastbpe.json:") && e.contains("not a valid config"),
            "{e}"
        );
        let e = corrupt(CONFIG_FILE, |s| {
            s.replace("\"byte_fallback\": false", "\"byte_fallback\": true")
        });
        assert!(e.contains("<0x00>"), "{e}");
        assert!(matches!(
            load(Path::new("/nonexistent/dir")),
            Err(Error::FileNotFound { .. })
        ));
    }
}
