//! Chunk encoding after Facebook's Gorilla paper and Prometheus' `chunkenc` XOR chunks:
//! timestamps as delta-of-delta in variable-width buckets (a regular interval costs one
//! bit), each value XOR-ed with the previous one and only the meaningful bits written (an
//! unchanged value costs one bit). A row may carry several values (a rollup keeps min,
//! max, sum, count and last); each field has its own state.
//!
//! Beyond Gorilla: a field whose values are all short decimals (counters, byte counts,
//! prices with two decimals — most of what exporters serve) is stored as the integers
//! `value × 10^k` in delta-of-delta form, which costs a byte or two where XOR costs six.
//! Each field starts in the decimal mode its first value allows; a later value that does
//! not fit re-encodes the chunk (at most 240 rows) with a wider scale, or with XOR.
//! Values come back bit for bit either way.
//!
//! Layout (`docs/monitoring.md` describes it): byte 0 the format version (2), byte 1 the
//! number of fields, then (once a row exists) one mode byte per field — 0 XOR, 1 + k
//! decimal with scale 10^k —, then the bit stream; the number of rows is stored beside
//! the chunk.

const FORMAT_VERSION: u8 = 2;

/// Bucket widths for timestamps' delta-of-delta (Prometheus' 14, 17, 20 bits) and for
/// decimal values' (narrower first: values change by small steps).
const TIMESTAMP_BUCKETS: [u32; 3] = [14, 17, 20];
const VALUE_BUCKETS: [u32; 3] = [7, 14, 20];

/// Decimal scales tried: 10^0 … 10^6.
const POW10: [f64; 7] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6];

/// How one field is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Xor,
    /// `value × 10^k` as an integer.
    Decimal(u8),
}

impl Mode {
    fn byte(self) -> u8 {
        match self {
            Mode::Xor => 0,
            Mode::Decimal(k) => 1 + k,
        }
    }

    fn from_byte(byte: u8) -> Option<Mode> {
        match byte {
            0 => Some(Mode::Xor),
            b if usize::from(b) <= POW10.len() => Some(Mode::Decimal(b - 1)),
            _ => None,
        }
    }

    /// The integer `value` is at scale `k`, if it is exactly that.
    fn scaled(value: f64, k: u8) -> Option<i64> {
        let scale = POW10[usize::from(k)];
        let n = (value * scale).round();
        if !n.is_finite() || n.abs() >= 9.0e15 {
            return None;
        }
        let n = n as i64;
        ((n as f64 / scale).to_bits() == value.to_bits()).then_some(n)
    }

    /// The narrowest decimal mode at or above `from` that holds `value`, else XOR.
    fn fitting(value: f64, from: u8) -> Mode {
        (from..POW10.len() as u8)
            .find(|k| Mode::scaled(value, *k).is_some())
            .map_or(Mode::Xor, Mode::Decimal)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct DecimalState {
    last: i64,
    delta: i64,
}

/// Appends rows to one chunk. `bytes()` is the chunk as stored, at any point.
#[derive(Debug, Clone)]
pub struct Encoder {
    bits: BitWriter,
    fields: usize,
    rows: usize,
    last_timestamp: i64,
    last_delta: i64,
    values: Vec<XorState>,
    modes: Vec<Mode>,
    decimals: Vec<DecimalState>,
    /// Modes to use for the first row instead of choosing them (a re-encoding).
    forced: Option<Vec<Mode>>,
}

#[derive(Debug, Clone, Copy)]
struct XorState {
    last: u64,
    /// Leading and trailing zero counts of the previous XOR window; `leading` is 0xff
    /// before any window was written.
    leading: u8,
    trailing: u8,
}

impl Encoder {
    pub fn new(fields: usize) -> Self {
        assert!((1..=8).contains(&fields), "a row has 1 to 8 fields");
        let mut bits = BitWriter::default();
        bits.write_bits(u64::from(FORMAT_VERSION), 8);
        bits.write_bits(fields as u64, 8);
        Self {
            bits,
            fields,
            rows: 0,
            last_timestamp: 0,
            last_delta: 0,
            values: vec![
                XorState {
                    last: 0,
                    leading: 0xff,
                    trailing: 0
                };
                fields
            ],
            modes: Vec::new(),
            decimals: vec![DecimalState::default(); fields],
            forced: None,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn fields(&self) -> usize {
        self.fields
    }

    pub fn last_timestamp(&self) -> Option<i64> {
        (self.rows > 0).then_some(self.last_timestamp)
    }

    /// Appends one row; `timestamp` must not be older than the previous row's.
    pub fn push(&mut self, timestamp: i64, values: &[f64]) {
        debug_assert_eq!(values.len(), self.fields);
        if self.rows == 0 {
            let modes = self
                .forced
                .take()
                .unwrap_or_else(|| values.iter().map(|v| Mode::fitting(*v, 0)).collect());
            for mode in &modes {
                self.bits.write_bits(u64::from(mode.byte()), 8);
            }
            self.modes = modes;
        } else if let Some(widened) = self.widened(values) {
            self.reencode(widened);
        }
        match self.rows {
            0 => self.bits.write_varint(zigzag(timestamp)),
            1 => {
                let delta = timestamp - self.last_timestamp;
                self.bits.write_varint(zigzag(delta));
                self.last_delta = delta;
            }
            _ => {
                let delta = timestamp - self.last_timestamp;
                self.write_delta_of_delta(delta - self.last_delta);
                self.last_delta = delta;
            }
        }
        self.last_timestamp = timestamp;
        for (field, value) in values.iter().enumerate() {
            match self.modes[field] {
                Mode::Decimal(k) => {
                    let n = Mode::scaled(*value, k).expect("the mode was widened to fit");
                    self.write_decimal(field, n);
                }
                Mode::Xor => {
                    let bits = value.to_bits();
                    if self.rows == 0 {
                        self.bits.write_bits(bits, 64);
                        self.values[field].last = bits;
                    } else {
                        self.write_xor(field, bits);
                    }
                }
            }
        }
        self.rows += 1;
    }

    /// The modes the chunk needs for `values` too, when its current ones do not hold them.
    fn widened(&self, values: &[f64]) -> Option<Vec<Mode>> {
        let fits = |(mode, value): (&Mode, &f64)| match *mode {
            Mode::Decimal(k) => Mode::scaled(*value, k).is_some(),
            Mode::Xor => true,
        };
        if self.modes.iter().zip(values).all(fits) {
            return None;
        }
        let mut changed = false;
        let modes = self
            .modes
            .iter()
            .zip(values)
            .map(|(mode, value)| match *mode {
                Mode::Decimal(k) if Mode::scaled(*value, k).is_none() => {
                    changed = true;
                    Mode::fitting(*value, k + 1)
                }
                other => other,
            })
            .collect();
        changed.then_some(modes)
    }

    /// Writes the rows so far again in `modes` (a wider scale, or XOR). A chunk holds at
    /// most a few hundred rows and modes only widen, so this happens rarely.
    fn reencode(&mut self, modes: Vec<Mode>) {
        let decoded = decode(&self.bits.bytes, self.rows).expect("a chunk decodes its own bytes");
        let mut fresh = Encoder::new(self.fields);
        fresh.forced = Some(modes);
        for (timestamp, values) in decoded.rows() {
            // Earlier values fit every wider mode: a wider scale holds them, XOR holds all.
            fresh.push(timestamp, values);
        }
        *self = fresh;
    }

    fn write_decimal(&mut self, field: usize, n: i64) {
        let state = self.decimals[field];
        match self.rows {
            0 => self.bits.write_varint(zigzag(n)),
            1 => {
                let delta = n.wrapping_sub(state.last);
                self.bits.write_varint(zigzag(delta));
                self.decimals[field].delta = delta;
            }
            _ => {
                let delta = n.wrapping_sub(state.last);
                let dod = delta.wrapping_sub(state.delta);
                // Narrower buckets than for timestamps: values change by small steps.
                self.write_buckets(dod, VALUE_BUCKETS);
                self.decimals[field].delta = delta;
            }
        }
        self.decimals[field].last = n;
    }

    fn write_delta_of_delta(&mut self, dod: i64) {
        self.write_buckets(dod, TIMESTAMP_BUCKETS);
    }

    /// A delta-of-delta in the first bucket that holds it: `0` for none, then prefixes
    /// `10`, `110`, `1110` for the three widths (each holds −2^(w−1)+1 … 2^(w−1), as in
    /// Prometheus), `1111` for the whole 64 bits.
    fn write_buckets(&mut self, dod: i64, widths: [u32; 3]) {
        if dod == 0 {
            self.bits.write_bit(false);
            return;
        }
        for (index, width) in widths.into_iter().enumerate() {
            let half = 1i64 << (width - 1);
            if (-half + 1..=half).contains(&dod) {
                let prefix = (1u64 << (index + 2)) - 2; // 10, 110, 1110
                self.bits.write_bits(prefix, index as u32 + 2);
                self.bits.write_bits(dod as u64, width);
                return;
            }
        }
        self.bits.write_bits(0b1111, 4);
        self.bits.write_bits(dod as u64, 64);
    }

    fn write_xor(&mut self, field: usize, bits: u64) {
        let state = &mut self.values[field];
        let xor = bits ^ state.last;
        state.last = bits;
        if xor == 0 {
            self.bits.write_bit(false);
            return;
        }
        self.bits.write_bit(true);
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if state.leading != 0xff && leading >= state.leading && trailing >= state.trailing {
            // The meaningful bits fit the previous window: reuse it.
            self.bits.write_bit(false);
            let width = 64 - state.leading - state.trailing;
            self.bits
                .write_bits(xor >> state.trailing, u32::from(width));
        } else {
            state.leading = leading;
            state.trailing = trailing;
            self.bits.write_bit(true);
            self.bits.write_bits(u64::from(leading), 5);
            let width = 64 - leading - trailing;
            // 64 meaningful bits are written as 0: six bits hold 0..=63.
            self.bits.write_bits(u64::from(width % 64), 6);
            self.bits.write_bits(xor >> trailing, u32::from(width));
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.bits.bytes.clone()
    }

    /// Rebuilds the encoder of a stored chunk so appending can go on where it stopped.
    pub fn resume(bytes: &[u8], rows: usize) -> Result<Self, DecodeError> {
        let decoded = decode(bytes, rows)?;
        let fields = decoded.fields;
        let mut encoder = Encoder::new(fields);
        for (timestamp, values) in decoded.rows() {
            encoder.push(timestamp, values);
        }
        Ok(encoder)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the chunk is in format {0}, this build reads format {FORMAT_VERSION}")]
    Version(u8),
    #[error("the chunk ends after {0} of its rows")]
    Truncated(usize),
    #[error("the chunk names an unknown value mode {0}")]
    Mode(u8),
}

/// A decoded chunk: timestamps and `fields` values per row, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub fields: usize,
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
}

impl Decoded {
    pub fn rows(&self) -> impl Iterator<Item = (i64, &[f64])> {
        self.timestamps
            .iter()
            .copied()
            .zip(self.values.chunks_exact(self.fields.max(1)))
    }
}

pub fn decode(bytes: &[u8], rows: usize) -> Result<Decoded, DecodeError> {
    let mut reader = BitReader::new(bytes);
    let truncated = |done| DecodeError::Truncated(done);
    let version = reader.read_bits(8).ok_or(truncated(0))? as u8;
    if version != FORMAT_VERSION {
        return Err(DecodeError::Version(version));
    }
    let fields = reader.read_bits(8).ok_or(truncated(0))? as usize;
    let mut modes = Vec::with_capacity(fields);
    if rows > 0 {
        for _ in 0..fields {
            let byte = reader.read_bits(8).ok_or(truncated(0))? as u8;
            modes.push(Mode::from_byte(byte).ok_or(DecodeError::Mode(byte))?);
        }
    }
    let mut timestamps = Vec::with_capacity(rows);
    let mut values = Vec::with_capacity(rows * fields);
    let mut states = vec![(0u64, 0u8, 0u8); fields];
    let mut decimals = vec![DecimalState::default(); fields];
    let mut timestamp = 0i64;
    let mut delta = 0i64;
    for row in 0..rows {
        let fail = || truncated(row);
        match row {
            0 => timestamp = unzigzag(reader.read_varint().ok_or_else(fail)?),
            1 => {
                delta = unzigzag(reader.read_varint().ok_or_else(fail)?);
                timestamp += delta;
            }
            _ => {
                let dod = read_buckets(&mut reader, TIMESTAMP_BUCKETS).ok_or_else(fail)?;
                delta += dod;
                timestamp += delta;
            }
        }
        timestamps.push(timestamp);
        for (field, state) in states.iter_mut().enumerate() {
            if let Mode::Decimal(k) = modes[field] {
                let decimal = &mut decimals[field];
                match row {
                    0 => decimal.last = unzigzag(reader.read_varint().ok_or_else(fail)?),
                    1 => {
                        decimal.delta = unzigzag(reader.read_varint().ok_or_else(fail)?);
                        decimal.last = decimal.last.wrapping_add(decimal.delta);
                    }
                    _ => {
                        let dod = read_buckets(&mut reader, VALUE_BUCKETS).ok_or_else(fail)?;
                        decimal.delta = decimal.delta.wrapping_add(dod);
                        decimal.last = decimal.last.wrapping_add(decimal.delta);
                    }
                }
                values.push(decimal.last as f64 / POW10[usize::from(k)]);
                continue;
            }
            if row == 0 {
                state.0 = reader.read_bits(64).ok_or_else(fail)?;
            } else if reader.read_bit().ok_or_else(fail)? {
                if reader.read_bit().ok_or_else(fail)? {
                    state.1 = reader.read_bits(5).ok_or_else(fail)? as u8;
                    let mut width = reader.read_bits(6).ok_or_else(fail)? as u8;
                    if width == 0 {
                        width = 64;
                    }
                    state.2 = 64 - state.1 - width;
                }
                let width = 64 - state.1 - state.2;
                let xor = reader.read_bits(u32::from(width)).ok_or_else(fail)? << state.2;
                state.0 ^= xor;
            }
            values.push(f64::from_bits(state.0));
        }
    }
    Ok(Decoded {
        fields,
        timestamps,
        values,
    })
}

/// Reads what [`Encoder::write_buckets`] wrote with the same widths.
fn read_buckets(reader: &mut BitReader<'_>, widths: [u32; 3]) -> Option<i64> {
    let mut prefix = 0;
    while prefix < 4 && reader.read_bit()? {
        prefix += 1;
    }
    let width = match prefix {
        0 => return Some(0),
        4 => 64,
        bucket => widths[bucket - 1],
    };
    let raw = reader.read_bits(width)?;
    Some(from_bucket(raw, width))
}

/// A bucket's `width` bits back to the value: buckets hold −2^(w−1)+1 … 2^(w−1), so a raw
/// value above 2^(w−1) is negative and 2^(w−1) itself positive (Prometheus' rule; plain
/// sign extension would read the top of the bucket as its negative).
fn from_bucket(raw: u64, width: u32) -> i64 {
    if width == 64 {
        return raw as i64;
    }
    if raw > 1u64 << (width - 1) {
        raw as i64 - (1i64 << width)
    } else {
        raw as i64
    }
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

#[derive(Debug, Clone, Default)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 = the last byte is full or there is none).
    used: u32,
}

impl BitWriter {
    fn write_bit(&mut self, bit: bool) {
        self.write_bits(u64::from(bit), 1);
    }

    /// Writes the low `count` bits of `value`, most significant first.
    fn write_bits(&mut self, value: u64, count: u32) {
        let mut remaining = count;
        while remaining > 0 {
            if self.used == 0 {
                self.bytes.push(0);
            }
            let free = 8 - self.used;
            let take = free.min(remaining);
            let shift = remaining - take;
            let chunk = ((value >> shift) & ((1u64 << take) - 1)) as u8;
            let last = self.bytes.len() - 1;
            self.bytes[last] |= chunk << (free - take);
            self.used = (self.used + take) % 8;
            remaining -= take;
        }
    }

    fn write_varint(&mut self, mut value: u64) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                self.write_bits(u64::from(byte), 8);
                return;
            }
            self.write_bits(u64::from(byte | 0x80), 8);
        }
    }
}

struct BitReader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> BitReader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, position: 0 }
    }

    fn read_bit(&mut self) -> Option<bool> {
        self.read_bits(1).map(|bit| bit == 1)
    }

    fn read_bits(&mut self, count: u32) -> Option<u64> {
        let mut value = 0u64;
        let mut remaining = count;
        while remaining > 0 {
            let byte = *self.bytes.get(self.position / 8)?;
            let offset = (self.position % 8) as u32;
            let available = 8 - offset;
            let take = available.min(remaining);
            let chunk = (byte >> (available - take)) & ((1u16 << take) - 1) as u8;
            value = if take == 64 {
                u64::from(chunk)
            } else {
                (value << take) | u64::from(chunk)
            };
            self.position += take as usize;
            remaining -= take;
        }
        Some(value)
    }

    fn read_varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.read_bits(8)?;
            value |= (byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(rows: &[(i64, Vec<f64>)]) -> Vec<u8> {
        let fields = rows[0].1.len();
        let mut encoder = Encoder::new(fields);
        for (timestamp, values) in rows {
            encoder.push(*timestamp, values);
        }
        let bytes = encoder.bytes();
        let decoded = decode(&bytes, rows.len()).unwrap();
        for ((timestamp, values), (want_ts, want_values)) in decoded.rows().zip(rows) {
            assert_eq!(timestamp, *want_ts);
            for (got, want) in values.iter().zip(want_values) {
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "values come back bit for bit"
                );
            }
        }
        bytes
    }

    #[test]
    fn regular_samples_cost_about_a_byte_or_less() {
        // A gauge that moves a little and a timestamp every second on the dot.
        let rows: Vec<(i64, Vec<f64>)> = (0..240)
            .map(|i| {
                (
                    1_700_000_000_000 + i * 1000,
                    vec![42.0 + f64::from((i % 7) as i32)],
                )
            })
            .collect();
        let bytes = round_trip(&rows);
        assert!(
            bytes.len() < 240 * 2,
            "a regular interval is one bit and small integers few: {} bytes",
            bytes.len()
        );
    }

    #[test]
    fn every_bucket_of_delta_of_delta_and_special_values_survive() {
        let timestamps = [
            0i64,
            1000,
            2000,
            2001,
            12_000,
            80_000,
            600_000,
            10_000_000,
            9_999_000,
            9_999_000,
            -5,
            i64::from(i32::MAX),
        ];
        let values = [
            0.0,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e-300,
            1e300,
            0.1,
            0.2,
            0.30000000000000004,
            f64::from_bits(1),
            f64::MAX,
        ];
        let rows: Vec<(i64, Vec<f64>)> = timestamps
            .iter()
            .zip(values)
            .map(|(t, v)| (*t, vec![v, v * 2.0, -v]))
            .collect();
        round_trip(&rows);
    }

    #[test]
    fn a_resumed_encoder_continues_the_same_stream() {
        let mut encoder = Encoder::new(1);
        for i in 0..50 {
            encoder.push(i * 15_000, &[f64::from(i as i32).sqrt()]);
        }
        let mut resumed = Encoder::resume(&encoder.bytes(), 50).unwrap();
        for i in 50..60 {
            encoder.push(i * 15_000, &[f64::from(i as i32).sqrt()]);
            resumed.push(i * 15_000, &[f64::from(i as i32).sqrt()]);
        }
        assert_eq!(encoder.bytes(), resumed.bytes());
    }

    #[test]
    fn decimals_are_stored_as_integers_and_widen_or_fall_back_to_xor() {
        // A price with two decimals moving by cents: a byte or two per value.
        let prices: Vec<(i64, Vec<f64>)> = (0..240)
            .map(|i| (i * 1000, vec![(5327 + (i * 7919) % 41 - 20) as f64 / 100.0]))
            .collect();
        let bytes = round_trip(&prices);
        assert!(
            bytes.len() < 240 * 2,
            "{} bytes for 240 prices",
            bytes.len()
        );
        // A third decimal appears, then a value no decimal scale holds, then NaN.
        let mut rows = prices[..100].to_vec();
        rows.push((100_000, vec![53.275]));
        rows.extend(prices[101..150].iter().cloned());
        rows.push((150_000, vec![0.1 + 0.2]));
        rows.push((151_000, vec![f64::NAN]));
        rows.push((152_000, vec![-0.0]));
        rows.extend(prices[153..].iter().cloned());
        round_trip(&rows);
        // Counters far beyond 2^53 (bytes) and negative values keep their bits.
        let big: Vec<(i64, Vec<f64>)> = (0..50)
            .map(|i| {
                (
                    i * 1000,
                    vec![9.0e15 + (i * 4096) as f64, -(i as f64) * 1.5],
                )
            })
            .collect();
        round_trip(&big);
    }

    #[test]
    fn each_buckets_upper_edge_reads_back_positive() {
        // A delta-of-delta of exactly 2^(w-1) is the top of its bucket, not -2^(w-1).
        let mut timestamps = vec![0i64, 1000];
        for dod in [8192i64, 65536, 524_288, -8191, 64] {
            let delta = timestamps[timestamps.len() - 1] - timestamps[timestamps.len() - 2];
            timestamps.push(timestamps[timestamps.len() - 1] + delta + dod);
        }
        let mut value = 0i64;
        let mut step = 0i64;
        let rows: Vec<(i64, Vec<f64>)> = timestamps
            .iter()
            .zip([0i64, 0, 64, 8192, 524_288, -63, 1])
            .map(|(t, dod)| {
                step += dod;
                value += step;
                (*t, vec![value as f64])
            })
            .collect();
        round_trip(&rows);
    }

    #[test]
    fn a_cut_chunk_is_reported_not_misread() {
        let mut encoder = Encoder::new(1);
        for i in 0..20 {
            encoder.push(i * 1000 + i * i, &[f64::from(i as i32) * 1.5]);
        }
        let bytes = encoder.bytes();
        assert!(matches!(
            decode(&bytes[..bytes.len() / 2], 20),
            Err(DecodeError::Truncated(_))
        ));
        assert_eq!(decode(&[9, 1], 1), Err(DecodeError::Version(9)));
    }
}
