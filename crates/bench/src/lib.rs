//! Seeded test data for ely's demo, benchmarks and tests: the same seed gives the same bytes
//! on every machine.

/// Words about ely's subject, in the vocabularies of both generators (`ely-gen` and
/// `ely-store-bench gen`).
pub const DOMAIN_WORDS: &[&str] = &[
    "vector",
    "collection",
    "batch",
    "cursor",
    "tenant",
    "schema",
    "property",
    "object",
    "stream",
    "header",
    "trailer",
    "retry",
    "weaviate",
    "ingest",
    "backup",
    "restore",
];

/// SplitMix64: a small, fast generator with no dependencies.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// An item of `items`, chosen uniformly; `items` must not be empty.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// `n` words of `vocabulary`, each chosen uniformly, joined by single spaces.
    pub fn words(&mut self, vocabulary: &[&str], n: usize) -> String {
        let mut s = String::with_capacity(n * 8);
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(self.pick(vocabulary));
        }
        s
    }

    /// A version-4 UUID.
    pub fn uuid(&mut self) -> String {
        let (a, b) = (self.next_u64(), self.next_u64());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0x3fff | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }

    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    /// Any finite float32, with subnormals, signed zeros and the extremes well represented.
    pub fn f32(&mut self) -> f32 {
        let special = [
            0.0,
            -0.0,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            f32::MAX,
            f32::MIN,
            1e-45,
            -1e-45,
            1.0,
            0.1,
        ];
        match self.below(4) {
            0 => special[self.below(special.len() as u64) as usize],
            1 => f32::from_bits(self.next_u64() as u32 & 0x807F_FFFF), // subnormal
            _ => loop {
                let x = f32::from_bits(self.next_u64() as u32);
                if x.is_finite() {
                    break x;
                }
            },
        }
    }

    /// A string of up to `max_pieces` pieces: unicode, quotes, escapes, control characters.
    pub fn text(&mut self, max_pieces: u64) -> String {
        let pieces = [
            "a", "Z", " ", "é", "日本", "🦀", "\"", "\\", "\n", "\t", "\u{1}", "/", "\u{2028}",
            "{}", "[,]",
        ];
        (0..self.below(max_pieces + 1))
            .map(|_| pieces[self.below(pieces.len() as u64) as usize])
            .collect()
    }
}
