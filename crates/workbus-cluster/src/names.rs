//! NATS names of a fleet, pool keys, and who owns a pool.

/// The bucket of members: a key per live node, expiring after the lease.
pub(crate) fn nodes_bucket(cluster: &str) -> String {
    format!("workbus-{cluster}-nodes")
}

/// The bucket of pools: a document per pool, under [`pool_key`].
pub(crate) fn pools_bucket(cluster: &str) -> String {
    format!("workbus-{cluster}-pools")
}

/// The bucket of leaderships: a key per kind of work that runs once, held by
/// its leader and expiring after the lease.
pub(crate) fn leaders_bucket(cluster: &str) -> String {
    format!("workbus-{cluster}-leaders")
}

/// The bucket of the fleet's automations and blocks.
pub(crate) fn automations_bucket(cluster: &str) -> String {
    format!("workbus-{cluster}-automations")
}

/// Where a node takes the calls routed to it.
pub(crate) fn call_subject(cluster: &str, node: &str) -> String {
    format!("workbus.{cluster}.call.{node}")
}

/// A pool's key in the pools bucket: `p.` and its name in hex (a name may
/// hold any character; a key only letters, digits and `-/_=.`).
pub(crate) fn pool_key(scope: &[u8]) -> String {
    let mut key = String::with_capacity(2 + scope.len() * 2);
    key.push_str("p.");
    for b in scope {
        key.push(char::from(HEX[usize::from(b >> 4)]));
        key.push(char::from(HEX[usize::from(b & 15)]));
    }
    key
}

/// The scope (a pool's name, as bytes) of a key of the pools bucket.
pub(crate) fn scope_of(key: &str) -> Option<Vec<u8>> {
    let hex = key.strip_prefix("p.")?.as_bytes();
    if hex.len() % 2 != 0 {
        return None;
    }
    hex.chunks(2)
        .map(|pair| {
            let d = |c: u8| (c as char).to_digit(16);
            Some((d(pair[0])? * 16 + d(pair[1])?) as u8)
        })
        .collect()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A stable 64-bit hash (FNV-1a, then the SplitMix64 finalizer to spread it):
/// every node, of any version or platform, computes the same owner.
fn hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // Keeps ("ab", "c") apart from ("a", "bc").
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The owner of a pool among live nodes: the node of the highest
/// `hash(node, pool)` (rendezvous hashing). When a node leaves, only its pools
/// move; when one joins, only the pools it now wins move to it.
pub(crate) fn owner<'a>(pool: &str, nodes: &'a [String]) -> Option<&'a str> {
    nodes
        .iter()
        .max_by_key(|n| (hash(&[n.as_bytes(), pool.as_bytes()]), n.as_str()))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_keys_round_trip_any_name() {
        for name in ["etl", "a b/c%", "ünïcødé 🚀", ""] {
            let key = pool_key(name.as_bytes());
            assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'));
            assert_eq!(scope_of(&key).unwrap(), name.as_bytes());
        }
        assert_eq!(scope_of("p.zz"), None);
        assert_eq!(scope_of("q.00"), None);
    }

    #[test]
    fn owners_spread_and_move_only_when_they_must() {
        let three: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let two: Vec<String> = ["a", "b"].map(String::from).to_vec();
        let pools: Vec<String> = (0..3000).map(|i| format!("pool-{i}")).collect();
        let mut per_node = std::collections::HashMap::new();
        for p in &pools {
            let o3 = owner(p, &three).unwrap();
            *per_node.entry(o3).or_insert(0) += 1;
            // Losing c moves only c's pools.
            let o2 = owner(p, &two).unwrap();
            if o3 != "c" {
                assert_eq!(o2, o3, "{p} moved though its owner stayed");
            }
        }
        for (node, n) in per_node {
            assert!((800..1200).contains(&n), "{node} owns {n} of 3000");
        }
        assert_eq!(owner("x", &[]), None);
    }
}
