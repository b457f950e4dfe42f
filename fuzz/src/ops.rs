//! Reading operations out of a fuzz input.
//!
//! The stateful targets read their input as a sequence of records, each an operation byte and
//! its arguments. Reading never fails: past the end, numbers read as zero and byte strings as
//! empty, so every input is a valid program and libFuzzer's mutations all mean something.

/// A cursor over a fuzz input.
#[derive(Debug, Clone)]
pub struct OpReader<'a> {
    data: &'a [u8],
}

impl<'a> OpReader<'a> {
    /// Reads `data` from its start.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte, or 0.
    pub fn u8(&mut self) -> u8 {
        self.array::<1>()[0]
    }

    /// The next two bytes, big-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.array())
    }

    /// The next four bytes, big-endian.
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.array())
    }

    /// The next eight bytes, big-endian.
    pub fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.array())
    }

    /// A byte string with a two-byte length in front (cut short at the end of the input).
    pub fn bytes(&mut self) -> &'a [u8] {
        let len = usize::from(self.u16());
        self.take(len)
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        self.take(self.data.len())
    }

    fn take(&mut self, len: usize) -> &'a [u8] {
        let (taken, rest) = self.data.split_at(len.min(self.data.len()));
        self.data = rest;
        taken
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        let taken = self.take(N);
        out[..taken.len()].copy_from_slice(taken);
        out
    }
}

/// Writes records in the format [`OpReader`] reads, for seed inputs.
#[derive(Debug, Default, Clone)]
pub struct OpWriter {
    data: Vec<u8>,
}

impl OpWriter {
    /// An empty input.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a byte.
    pub fn u8(mut self, value: u8) -> Self {
        self.data.push(value);
        self
    }

    /// Appends two bytes, big-endian.
    pub fn u16(mut self, value: u16) -> Self {
        self.data.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// Appends four bytes, big-endian.
    pub fn u32(mut self, value: u32) -> Self {
        self.data.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// Appends eight bytes, big-endian.
    pub fn u64(mut self, value: u64) -> Self {
        self.data.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// Appends a byte string with its two-byte length.
    ///
    /// # Panics
    /// If `bytes` is longer than `u16::MAX` (seeds are small).
    pub fn bytes(mut self, bytes: &[u8]) -> Self {
        let len = u16::try_from(bytes.len()).expect("seed byte strings fit a u16 length");
        self.data.extend_from_slice(&len.to_be_bytes());
        self.data.extend_from_slice(bytes);
        self
    }

    /// The input.
    pub fn finish(self) -> Vec<u8> {
        self.data
    }
}

/// Applies a mutation read from a fuzz input to a copy of a real message: a two-byte offset,
/// then bytes XORed in from there (wrapping). Empty input leaves the message as it is, so a
/// seed can name a real message exactly.
pub fn mutate(message: &[u8], mutation: &[u8]) -> Vec<u8> {
    let mut out = message.to_vec();
    if out.is_empty() || mutation.len() < 2 {
        return out;
    }
    let offset = usize::from(u16::from_be_bytes([mutation[0], mutation[1]]));
    let len = out.len();
    for (i, byte) in mutation[2..].iter().enumerate() {
        out[(offset + i) % len] ^= byte;
    }
    out
}
