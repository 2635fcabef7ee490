//! What may differ between the README's captured output and a fresh run: request ids, times,
//! request UUIDs, key ids, hashes and ports. Each is replaced by a placeholder before the two
//! are compared; everything else must match exactly.
//!
//! Request ids are numbered in order of first appearance (`req_#1`, `req_#2`, …), separately
//! for the README and the run, so "the second request" in one is the second in the other —
//! and the README's id can be swapped for the real one in later commands.

use std::collections::HashMap;

use regex::Regex;

use crate::error::{Error, Result};

/// Patterns that vary from run to run, and what each becomes.
const VOLATILE: &[(&str, &str)] = &[
    // HTTP Date headers.
    (r"(?m)^date: .*$", "date: <date>"),
    // RFC 3339 times, with or without fractions.
    (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "<time>"),
    // Time left, counted from now: `(in 14m 55s)`.
    (r"\(in (\d+[dhms] ?)+\)", "(in <duration>)"),
    // x-request-id UUIDs.
    (
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "<uuid>",
    ),
    // The collector's checkpoint origin and key id, issuer stream ids.
    (r"jitgate-collector/[0-9a-f]{12}", "jitgate-collector/<key>"),
    (r"issuer-[0-9a-f]{16}", "issuer-<stream>"),
    // SHA-256 digests and Merkle roots.
    (r"sha256:[0-9a-f]{64}", "sha256:<digest>"),
    (r"[A-Za-z0-9+/]{43}=", "<hash>"),
    // How many gate streams (Envoy workers) served the calls is up to the kernel.
    (r"none in \d+ streams", "none in <n> streams"),
    // Loopback ports (the test runs the stack on free ports).
    (r"127\.0\.0\.1:\d+", "127.0.0.1:<port>"),
];

/// Request (= grant) ids.
const REQUEST_ID: &str = r"req_[0-9a-f]{24}";

/// Numbers request ids and masks the volatile parts of one side's output.
#[derive(Debug)]
pub struct Normalizer {
    volatile: Vec<(Regex, &'static str)>,
    request_id: Regex,
    ids: HashMap<String, usize>,
    order: Vec<String>,
}

impl Normalizer {
    /// A normalizer that has seen no ids yet.
    pub fn new() -> Result<Normalizer> {
        let compile = |pattern: &str| {
            Regex::new(pattern).map_err(|error| Error::Usage(format!("pattern {pattern}: {error}")))
        };
        Ok(Normalizer {
            volatile: VOLATILE
                .iter()
                .map(|(pattern, placeholder)| Ok((compile(pattern)?, *placeholder)))
                .collect::<Result<_>>()?,
            request_id: compile(REQUEST_ID)?,
            ids: HashMap::new(),
            order: Vec::new(),
        })
    }

    /// Records the request ids in `text` (numbering new ones) without masking anything.
    pub fn learn_ids(&mut self, text: &str) {
        for found in self.request_id.find_iter(text) {
            let id = found.as_str().to_owned();
            if !self.ids.contains_key(&id) {
                self.order.push(id.clone());
                self.ids.insert(id, self.order.len());
            }
        }
    }

    /// The id numbered `n` (from 1), if seen.
    pub fn id(&self, n: usize) -> Option<&str> {
        self.order.get(n.checked_sub(1)?).map(String::as_str)
    }

    /// The number of `id`, if seen.
    pub fn number(&self, id: &str) -> Option<usize> {
        self.ids.get(id).copied()
    }

    /// Every request id in `text`.
    pub fn ids_in<'a>(&self, text: &'a str) -> Vec<&'a str> {
        self.request_id
            .find_iter(text)
            .map(|found| found.as_str())
            .collect()
    }

    /// `text` with ids numbered, volatile parts masked, `\r` and trailing blanks removed.
    pub fn normalize(&mut self, text: &str) -> String {
        self.learn_ids(text);
        let mut text = text.replace('\r', "");
        text = self
            .request_id
            .replace_all(&text, |captures: &regex::Captures<'_>| {
                let id = &captures[0];
                format!("req_#{}", self.ids.get(id).copied().unwrap_or(0))
            })
            .into_owned();
        for (pattern, placeholder) in &self.volatile {
            text = pattern.replace_all(&text, *placeholder).into_owned();
        }
        text.lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_numbered_by_first_appearance() {
        let mut readme = Normalizer::new().unwrap();
        let mut run = Normalizer::new().unwrap();
        let a = readme
            .normalize("Granted: req_aaaaaaaaaaaaaaaaaaaaaaaa, then req_bbbbbbbbbbbbbbbbbbbbbbbb");
        let b = run
            .normalize("Granted: req_111111111111111111111111, then req_222222222222222222222222");
        assert_eq!(a, b);
        assert_eq!(a, "Granted: req_#1, then req_#2");
        assert_eq!(run.id(2), Some("req_222222222222222222222222"));
        assert_eq!(readme.number("req_bbbbbbbbbbbbbbbbbbbbbbbb"), Some(2));
    }

    #[test]
    fn times_uuids_dates_and_ports_are_masked() {
        let mut normalizer = Normalizer::new().unwrap();
        let text =
            "date: Tue, 24 Nov 2026 18:50:57 GMT\r\nuntil 2026-11-24T19:50:53Z (in 14m 55s)\r\n\
                    x-request-id: 0ee921c5-2b33-43ca-84e4-98d8494d2e36 at 127.0.0.1:43211  \n";
        assert_eq!(
            normalizer.normalize(text),
            "date: <date>\nuntil <time> (in <duration>)\nx-request-id: <uuid> at 127.0.0.1:<port>"
        );
    }

    #[test]
    fn a_different_word_still_differs() {
        let mut one = Normalizer::new().unwrap();
        let mut two = Normalizer::new().unwrap();
        assert_ne!(
            one.normalize("403 Forbidden"),
            two.normalize("401 Unauthorized")
        );
    }
}
