//! CIDR and address arithmetic for IPv4 and IPv6 in one 128-bit representation (algorithms §1.5).

use std::fmt;
use std::net::IpAddr;

/// The family of an address, a CIDR or a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// 32-bit addresses.
    V4,
    /// 128-bit addresses.
    V6,
}

impl Family {
    /// Address width in bits.
    pub fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    /// `ipv4` or `ipv6` (metric label values).
    pub fn label(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }
}

/// A parsed CIDR: the network (host bits cleared) and the prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    family: Family,
    network: u128,
    prefix: u8,
}

impl Cidr {
    /// Parses `<address>/<prefix>`; the address's host bits are cleared (`192.168.0.1/24` → `192.168.0.0/24`).
    /// IPv4 only for dotted quads; everything else (including `::ffff:a.b.c.d`) is IPv6.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (address, prefix) = text.trim().split_once('/')?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > 3 {
            return None;
        }
        let prefix: u8 = prefix.parse().ok()?;
        let (family, value) = address_value(address.parse().ok()?);
        if prefix > family.bits() {
            return None;
        }
        Some(Cidr {
            family,
            network: value & mask(family, prefix),
            prefix,
        })
    }

    /// The single-address CIDR (`/32` or `/128`) of an address.
    pub fn of_address(address: IpAddr) -> Cidr {
        let (family, network) = address_value(address);
        Cidr {
            family,
            network,
            prefix: family.bits(),
        }
    }

    /// Parses an address (not a CIDR) into its single-address CIDR.
    pub fn parse_address(text: &str) -> Option<Cidr> {
        text.trim().parse().ok().map(Cidr::of_address)
    }

    pub fn family(&self) -> Family {
        self.family
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Number of addresses, `2^(bits − prefix)`, capped at `u128::MAX` for an IPv6 `/0`.
    pub fn size(&self) -> u128 {
        let host_bits = u32::from(self.family.bits() - self.prefix);
        1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
    }

    /// Whether `other` (a CIDR or single address) lies inside this CIDR.
    pub fn contains(&self, other: &Cidr) -> bool {
        self.family == other.family
            && other.prefix >= self.prefix
            && other.network & mask(self.family, self.prefix) == self.network
    }

    /// Whether either CIDR contains the other.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other) || other.contains(self)
    }

    /// Same network and prefix.
    pub fn same_network(&self, other: &Cidr) -> bool {
        self == other
    }

    /// The network address as a single-address CIDR (`10.0.0.0/24` → `10.0.0.0/32`).
    pub fn first_address(&self) -> Cidr {
        Cidr {
            family: self.family,
            network: self.network,
            prefix: self.family.bits(),
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let address: IpAddr = match self.family {
            Family::V4 => IpAddr::V4((self.network as u32).into()),
            Family::V6 => IpAddr::V6(self.network.into()),
        };
        write!(f, "{address}/{}", self.prefix)
    }
}

fn address_value(address: IpAddr) -> (Family, u128) {
    match address {
        IpAddr::V4(v4) => (Family::V4, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (Family::V6, u128::from(v6)),
    }
}

fn mask(family: Family, prefix: u8) -> u128 {
    let bits = u32::from(family.bits());
    let all: u128 = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    let host = bits - u32::from(prefix);
    if host >= 128 {
        0
    } else {
        all & !((1u128 << host) - 1)
    }
}

/// The pool of a CIDR or address among `pools` (name, CIDR): the containing pool with the longest prefix, ties
/// by name ascending; `None` when no pool contains it.
pub fn pool_of<'a, N, I>(target: &Cidr, pools: I) -> Option<&'a N>
where
    N: Ord + ?Sized + 'a,
    I: IntoIterator<Item = (&'a N, &'a Cidr)>,
{
    pools
        .into_iter()
        .filter(|(_, cidr)| cidr.contains(target))
        .min_by(|(an, ac), (bn, bc)| bc.prefix.cmp(&ac.prefix).then_with(|| an.cmp(bn)))
        .map(|(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        Cidr::parse(s).unwrap_or_else(|| panic!("{s} parses"))
    }

    #[test]
    fn parsing_clears_host_bits() {
        assert_eq!(c("192.168.0.1/24").to_string(), "192.168.0.0/24");
        assert_eq!(c("fd00:10:244::5/64").to_string(), "fd00:10:244::/64");
        assert_eq!(c("0.0.0.0/0").size(), 1 << 32);
    }

    #[test]
    fn invalid_cidrs_are_rejected() {
        for bad in [
            "not-a-cidr",
            "10.0.0.0",
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0/8",
            "",
        ] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn mapped_ipv4_is_ipv6() {
        assert_eq!(c("::ffff:10.0.0.1/128").family(), Family::V6);
        assert_eq!(c("10.0.0.1/32").family(), Family::V4);
    }

    #[test]
    fn sizes_use_128_bit_arithmetic() {
        assert_eq!(c("10.233.64.0/18").size(), 16384);
        assert_eq!(c("fd00::/64").size(), 1u128 << 64);
        assert_eq!(c("::/0").size(), u128::MAX);
        assert_eq!(c("fd00::1/128").size(), 1);
    }

    #[test]
    fn containment_respects_family_and_prefix() {
        let pool = c("10.233.64.0/18");
        assert!(pool.contains(&c("10.233.64.0/26")));
        assert!(pool.contains(&Cidr::parse_address("10.233.127.255").unwrap()));
        assert!(!pool.contains(&c("10.233.0.0/16")));
        assert!(!pool.contains(&Cidr::parse_address("10.233.128.0").unwrap()));
        assert!(!c("::/0").contains(&c("10.0.0.0/8")));
        assert!(c("10.0.0.0/8").overlaps(&c("10.1.0.0/16")));
        assert!(c("10.1.0.0/16").overlaps(&c("10.0.0.0/8")));
        assert!(!c("10.0.0.0/16").overlaps(&c("10.1.0.0/16")));
    }

    #[test]
    fn pool_of_prefers_the_longest_prefix_then_the_name() {
        let pools = [
            ("wide", c("10.80.0.0/16")),
            ("narrow", c("10.80.1.0/24")),
            ("b", c("10.80.1.0/24")),
        ];
        let pools = || pools.iter().map(|(n, c)| (*n, c));
        assert_eq!(
            pool_of(&Cidr::parse_address("10.80.1.5").unwrap(), pools()),
            Some("b")
        );
        assert_eq!(
            pool_of(&Cidr::parse_address("10.80.2.5").unwrap(), pools()),
            Some("wide")
        );
        assert_eq!(
            pool_of(&Cidr::parse_address("10.81.0.1").unwrap(), pools()),
            None
        );
    }
}
