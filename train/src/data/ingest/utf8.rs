//! A `Read` adapter that replaces invalid UTF-8 with U+FFFD and remembers where it was.
//!
//! arrow-csv and arrow-json check UTF-8 per batch and stop the whole stream at the first bad
//! byte. `validate` must list every problem, so the bytes are repaired here (the CSV parsing
//! itself stays arrow's) and each repair is reported with its line and, for CSV, its column.

use std::io::{self, Read};
use std::sync::{Arc, Mutex};

/// Where a bad byte sequence was: 1-based physical line, 0-based field (unquoted commas before it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BadByte {
    pub line: usize,
    pub field: usize,
}

pub struct Repair<R> {
    inner: R,
    /// Bytes read from `inner` but not yet checked (an incomplete sequence at a read boundary).
    pending: Vec<u8>,
    /// Checked, repaired bytes not yet handed out.
    ready: Vec<u8>,
    /// How much of `ready` has been handed out.
    pos: usize,
    line: usize,
    field: usize,
    quoted: bool,
    pub found: Arc<Mutex<Vec<BadByte>>>,
}

impl<R: Read> Repair<R> {
    pub fn new(inner: R) -> Self {
        let found = Arc::new(Mutex::new(Vec::new()));
        Self { inner, pending: Vec::new(), ready: Vec::new(), pos: 0, line: 1, field: 0, quoted: false, found }
    }

    /// Tracks line, field and quote state over valid text (ASCII bytes are enough for that).
    fn track(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'"' => self.quoted = !self.quoted,
                b',' if !self.quoted => self.field += 1,
                b'\n' => {
                    self.line += 1;
                    if !self.quoted {
                        self.field = 0;
                    }
                }
                _ => {}
            }
        }
    }

    /// Moves the checked prefix of `pending` into `ready`; keeps a trailing incomplete
    /// sequence unless `eof`.
    fn check(&mut self, eof: bool) {
        let mut rest = std::mem::take(&mut self.pending);
        let mut start = 0;
        loop {
            match std::str::from_utf8(&rest[start..]) {
                Ok(_) => {
                    let end = rest.len();
                    self.accept(&rest[start..end]);
                    rest.clear();
                    break;
                }
                Err(e) => {
                    let valid = start + e.valid_up_to();
                    let good = rest[start..valid].to_vec();
                    self.accept(&good);
                    match e.error_len() {
                        Some(n) => {
                            self.found.lock().unwrap().push(BadByte { line: self.line, field: self.field });
                            self.ready.extend_from_slice("\u{FFFD}".as_bytes());
                            start = valid + n;
                        }
                        None if eof => {
                            self.found.lock().unwrap().push(BadByte { line: self.line, field: self.field });
                            self.ready.extend_from_slice("\u{FFFD}".as_bytes());
                            rest.clear();
                            break;
                        }
                        None => {
                            rest.drain(..valid);
                            break;
                        }
                    }
                }
            }
        }
        self.pending = rest;
    }

    fn accept(&mut self, bytes: &[u8]) {
        self.track(bytes);
        self.ready.extend_from_slice(bytes);
    }
}

impl<R: Read> Read for Repair<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.ready.len() {
            self.ready.clear();
            self.pos = 0;
        }
        while self.ready.is_empty() {
            let mut chunk = [0u8; 64 * 1024];
            let n = self.inner.read(&mut chunk)?;
            if n == 0 && self.pending.is_empty() {
                return Ok(0);
            }
            self.pending.extend_from_slice(&chunk[..n]);
            self.check(n == 0);
        }
        let n = buf.len().min(self.ready.len() - self.pos);
        buf[..n].copy_from_slice(&self.ready[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repairs_and_locates_bad_bytes() {
        let input = b"a,b\nx,\xff\n\"q,\xfe\",y\n";
        let mut r = Repair::new(&input[..]);
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        assert_eq!(out, "a,b\nx,\u{FFFD}\n\"q,\u{FFFD}\",y\n");
        assert_eq!(*r.found.lock().unwrap(), vec![BadByte { line: 2, field: 1 }, BadByte { line: 3, field: 0 }]);
    }
}
