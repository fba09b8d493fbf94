//! Which hash slot a key lives in: CRC16 (XMODEM) of the key, or of its hash tag, mod 16384.
//!
//! This is Redis's own `keyHashSlot` (cluster.c), so `keyslot` answers without a server.

use crate::spec::SLOT_COUNT;

/// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as Redis's crc16.c.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The part of the key that is hashed: the first `{...}` with something inside, else all of it.
fn hashed_part(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// The hash slot of `key`.
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hashed_part(key)) % SLOT_COUNT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_check_value() {
        // The XMODEM check value for "123456789", as listed in Redis's crc16.c.
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn hash_tags_follow_redis_rules() {
        assert_eq!(hashed_part(b"{user1000}.following"), b"user1000");
        assert_eq!(hashed_part(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(hashed_part(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hashed_part(b"foo{bar}{zap}"), b"bar");
        assert_eq!(hashed_part(b"no-tag"), b"no-tag");
        assert_eq!(hashed_part(b"{unclosed"), b"{unclosed");
    }

    #[test]
    fn tagged_keys_share_a_slot() {
        assert_eq!(
            key_slot(b"{user:1000}.name"),
            key_slot(b"{user:1000}.email")
        );
        assert_eq!(key_slot(b"{user:1000}.name"), key_slot(b"user:1000"));
    }
}
