//! The flags byte at the front of most inputs.

/// An input split into its flags byte and the bytes for the decoder.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The first byte: each target documents what its bits choose.
    pub flags: u8,
    /// The rest.
    pub data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Splits `bytes`; `None` when empty.
    pub fn split(bytes: &'a [u8]) -> Option<Self> {
        let (&flags, data) = bytes.split_first()?;
        Some(Self { flags, data })
    }

    /// Whether bit `n` of the flags is set.
    pub fn bit(&self, n: u32) -> bool {
        self.flags >> n & 1 == 1
    }

    /// `width` bits of the flags from bit `shift` up.
    pub fn bits(&self, shift: u32, width: u32) -> u8 {
        (self.flags >> shift) & ((1u8 << width) - 1)
    }

    /// The input that carries `data` with these `flags`.
    pub fn encode(flags: u8, data: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(data.len() + 1);
        bytes.push(flags);
        bytes.extend_from_slice(data);
        bytes
    }
}
