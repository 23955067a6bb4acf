//! EDNS Client Subnet (RFC 7871): the option a resolver adds to say which network its client
//! is in, and the scope an authoritative server answers with.

use crate::rdata::EdnsOption;
use crate::Edns;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The EDNS option code of Client Subnet (RFC 7871 §6).
pub const ECS_OPTION_CODE: u16 = 8;

/// A Client Subnet option: the client's network and, in responses, the scope of the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientSubnet {
    /// The address, with every bit past `source_prefix` zero.
    pub address: IpAddr,
    /// SOURCE PREFIX-LENGTH: how many leading bits of `address` the resolver disclosed.
    pub source_prefix: u8,
    /// SCOPE PREFIX-LENGTH: in responses, how many leading bits the answer depends on
    /// (RFC 7871 §7.2.1); 0 in queries.
    pub scope_prefix: u8,
}

/// Why a Client Subnet option is malformed (RFC 7871 §6: the server answers FORMERR).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EcsError {
    /// Shorter than the 4 fixed octets.
    #[error("client subnet option too short ({len} octets)")]
    TooShort {
        /// The option's length.
        len: usize,
    },
    /// A FAMILY other than 1 (IPv4) or 2 (IPv6).
    #[error("client subnet family {0} is not IPv4 (1) or IPv6 (2)")]
    UnknownFamily(u16),
    /// A prefix length longer than the family's addresses.
    #[error("client subnet prefix length {len} is longer than {max}")]
    PrefixTooLong {
        /// The prefix length given.
        len: u8,
        /// The family's address length in bits.
        max: u8,
    },
    /// ADDRESS has more or fewer octets than SOURCE PREFIX-LENGTH needs.
    #[error("client subnet address has {len} octets, the prefix length needs {needed}")]
    AddressLength {
        /// Octets present.
        len: usize,
        /// Octets needed.
        needed: usize,
    },
    /// A bit past SOURCE PREFIX-LENGTH is set.
    #[error("client subnet address has bits set past its prefix length")]
    BitsPastPrefix,
}

impl ClientSubnet {
    /// A query's option for `address`/`source_prefix` (the address is masked to the prefix;
    /// the prefix is capped at the family's length).
    pub fn new(address: IpAddr, source_prefix: u8) -> ClientSubnet {
        let source_prefix = source_prefix.min(family_bits(address));
        ClientSubnet {
            address: mask(address, source_prefix),
            source_prefix,
            scope_prefix: 0,
        }
    }

    /// Decodes the option data (RFC 7871 §6). Every malformation the RFC names is an error.
    pub fn decode(data: &[u8]) -> Result<ClientSubnet, EcsError> {
        let [f0, f1, source_prefix, scope_prefix, address @ ..] = data else {
            return Err(EcsError::TooShort { len: data.len() });
        };
        let family = u16::from_be_bytes([*f0, *f1]);
        let max = match family {
            1 => 32,
            2 => 128,
            other => return Err(EcsError::UnknownFamily(other)),
        };
        for len in [*source_prefix, *scope_prefix] {
            if len > max {
                return Err(EcsError::PrefixTooLong { len, max });
            }
        }
        // RFC 7871 §6: ADDRESS "MUST be truncated to the number of bits indicated by the
        // SOURCE PREFIX-LENGTH field"; too many or too few octets, or bits set past the
        // prefix, are answered with FORMERR.
        let needed = (*source_prefix as usize).div_ceil(8);
        if address.len() != needed {
            return Err(EcsError::AddressLength {
                len: address.len(),
                needed,
            });
        }
        let mut octets = [0u8; 16];
        octets[..needed].copy_from_slice(address);
        let address = if family == 1 {
            IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]))
        } else {
            IpAddr::V6(Ipv6Addr::from(octets))
        };
        if mask(address, *source_prefix) != address {
            return Err(EcsError::BitsPastPrefix);
        }
        Ok(ClientSubnet {
            address,
            source_prefix: *source_prefix,
            scope_prefix: *scope_prefix,
        })
    }

    /// The option data: FAMILY, SOURCE PREFIX-LENGTH, SCOPE PREFIX-LENGTH, ADDRESS truncated
    /// to the source prefix.
    pub fn encode(&self) -> Vec<u8> {
        let (family, octets): (u16, Vec<u8>) = match self.address {
            IpAddr::V4(v4) => (1, v4.octets().to_vec()),
            IpAddr::V6(v6) => (2, v6.octets().to_vec()),
        };
        let needed = (self.source_prefix as usize).div_ceil(8).min(octets.len());
        let mut data = Vec::with_capacity(4 + needed);
        data.extend_from_slice(&family.to_be_bytes());
        data.push(self.source_prefix);
        data.push(self.scope_prefix);
        data.extend_from_slice(&octets[..needed]);
        data
    }

    /// The option as an [`EdnsOption`].
    pub fn to_option(&self) -> EdnsOption {
        EdnsOption {
            code: ECS_OPTION_CODE,
            data: self.encode(),
        }
    }

    /// The Client Subnet option of a message's EDNS, if it has one: `Some(Err)` when it is
    /// malformed. (RFC 7871 §6 allows one; the first is taken.)
    pub fn find(edns: &Edns) -> Option<Result<ClientSubnet, EcsError>> {
        edns.options
            .iter()
            .find(|option| option.code == ECS_OPTION_CODE)
            .map(|option| ClientSubnet::decode(&option.data))
    }

    /// The same option with SCOPE PREFIX-LENGTH set: the echo of RFC 7871 §7.2.1 (FAMILY,
    /// SOURCE PREFIX-LENGTH and ADDRESS as in the query).
    pub fn with_scope(self, scope_prefix: u8) -> ClientSubnet {
        ClientSubnet {
            scope_prefix: scope_prefix.min(family_bits(self.address)),
            ..self
        }
    }
}

/// 32 for IPv4, 128 for IPv6.
fn family_bits(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `address` with every bit past `prefix` cleared.
fn mask(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = if prefix == 0 {
                0
            } else {
                bits & (u32::MAX << (32 - prefix.min(32) as u32))
            };
            IpAddr::V4(Ipv4Addr::from(kept))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = if prefix == 0 {
                0
            } else {
                bits & (u128::MAX << (128 - prefix.min(128) as u32))
            };
            IpAddr::V6(Ipv6Addr::from(kept))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_dig_sends() {
        // dig +subnet=127.0.21.0/24: family 1, source 24, scope 0, three octets.
        let subnet = ClientSubnet::decode(&[0, 1, 24, 0, 127, 0, 21]).unwrap();
        assert_eq!(subnet.address, "127.0.21.0".parse::<IpAddr>().unwrap());
        assert_eq!(subnet.source_prefix, 24);
        assert_eq!(subnet.with_scope(24).encode(), [0, 1, 24, 24, 127, 0, 21]);
    }

    #[test]
    fn round_trips_ipv6_and_zero_prefix() {
        for (address, prefix) in [("2001:db8:1::", 48), ("::", 0), ("10.1.2.3", 32)] {
            let subnet = ClientSubnet::new(address.parse().unwrap(), prefix);
            assert_eq!(ClientSubnet::decode(&subnet.encode()), Ok(subnet));
        }
        assert_eq!(
            ClientSubnet::new("10.1.2.3".parse().unwrap(), 0).encode(),
            [0, 1, 0, 0]
        );
    }

    #[test]
    fn rejects_what_rfc_7871_section_6_rejects() {
        let cases: [(&[u8], EcsError); 5] = [
            (&[0, 1, 24], EcsError::TooShort { len: 3 }),
            (&[0, 3, 0, 0], EcsError::UnknownFamily(3)),
            (
                &[0, 1, 33, 0, 1, 2, 3, 4, 5],
                EcsError::PrefixTooLong { len: 33, max: 32 },
            ),
            (
                &[0, 1, 24, 0, 127, 0, 21, 0],
                EcsError::AddressLength { len: 4, needed: 3 },
            ),
            (&[0, 1, 20, 0, 127, 0, 21], EcsError::BitsPastPrefix),
        ];
        for (data, error) in cases {
            assert_eq!(ClientSubnet::decode(data), Err(error), "{data:?}");
        }
    }

    #[test]
    fn never_panics_on_any_prefix_of_an_option() {
        let data = [0u8, 2, 56, 0, 0x20, 1, 0x0d, 0xb8, 0, 1, 0];
        for end in 0..=data.len() {
            let _ = ClientSubnet::decode(&data[..end]);
        }
    }
}
