//! Peers the node has seen, most recent first.
//!
//! Bounded by rows and bytes ([`StoreBudget::peers`](crate::StoreBudget::peers) and
//! [`StoreBudget::peer_rows`](crate::StoreBudget::peer_rows), the bytes counted in `meta`): a
//! write that takes the table over either drops the least recently seen peers, in the same
//! transaction.

use redb::{ReadableTable, ReadableTableMetadata};

use crate::budget::{Meter, Tally, row_bytes};
use crate::encoding::{self, PeerValue};
use crate::error::{ResultExt, StoreError};
use crate::schema::{PEERS, PEERS_BY_SEEN};
use crate::store::{Store, damaged};
use crate::types::StoredPeer;

impl Store {
    /// Stores `peer`, replacing what was stored for its peer id. When the peers are then over
    /// their budget of rows or bytes, the least recently seen are dropped.
    pub fn upsert_peer(&self, peer: &StoredPeer) -> Result<(), StoreError> {
        let budget = *self.config().budget();
        self.write(|txn, path| {
            let mut meter = Meter::read(txn, Tally::Peers, path)?;
            let mut peers = txn.open_table(PEERS).at(path)?;
            let mut by_seen = txn.open_table(PEERS_BY_SEEN).at(path)?;
            let id = peer.peer_id.as_slice();
            let old = match peers.get(id).at(path)? {
                Some(old) => Some((
                    encoding::decode::<PeerValue>(old.value())
                        .map_err(|reason| damaged(path, "peer", id, reason))?
                        .last_seen_unix_ms,
                    old.value().len(),
                )),
                None => None,
            };
            if let Some((old_seen, old_len)) = old {
                by_seen.remove((old_seen, id)).at(path)?;
                meter.sub(row_bytes(id.len(), old_len));
            }
            let encoded = encoding::encode(&PeerValue::from_peer(peer));
            peers.insert(id, encoded.as_slice()).at(path)?;
            by_seen.insert((peer.last_seen_unix_ms, id), ()).at(path)?;
            meter.add(row_bytes(id.len(), encoded.len()));
            while peers.len().at(path)? > budget.peer_rows || meter.bytes() > budget.peers {
                let Some((oldest, _)) = by_seen.pop_first().at(path)? else {
                    break;
                };
                let (_, oldest_id) = oldest.value();
                let oldest_id = oldest_id.to_vec();
                drop(oldest);
                if let Some(gone) = peers.remove(oldest_id.as_slice()).at(path)? {
                    meter.sub(row_bytes(oldest_id.len(), gone.value().len()));
                }
            }
            drop((peers, by_seen));
            meter.save(txn, path)
        })
    }

    /// Forgets a peer; `false` if it was not stored.
    pub fn remove_peer(&self, peer_id: &[u8]) -> Result<bool, StoreError> {
        self.write(|txn, path| {
            let mut meter = Meter::read(txn, Tally::Peers, path)?;
            let mut peers = txn.open_table(PEERS).at(path)?;
            let old_seen = match peers.remove(peer_id).at(path)? {
                Some(old) => {
                    meter.sub(row_bytes(peer_id.len(), old.value().len()));
                    encoding::decode::<PeerValue>(old.value())
                        .map_err(|reason| damaged(path, "peer", peer_id, reason))?
                        .last_seen_unix_ms
                }
                None => return Ok(false),
            };
            txn.open_table(PEERS_BY_SEEN)
                .at(path)?
                .remove((old_seen, peer_id))
                .at(path)?;
            drop(peers);
            meter.save(txn, path)?;
            Ok(true)
        })
    }

    /// One peer, if stored.
    pub fn peer(&self, peer_id: &[u8]) -> Result<Option<StoredPeer>, StoreError> {
        self.read(|txn, path| {
            let peers = txn.open_table(PEERS).at(path)?;
            let Some(value) = peers.get(peer_id).at(path)? else {
                return Ok(None);
            };
            let value = encoding::decode::<PeerValue>(value.value())
                .map_err(|reason| damaged(path, "peer", peer_id, reason))?;
            Ok(Some(value.into_peer(peer_id.to_vec())))
        })
    }

    /// At most `limit` peers, most recently seen first.
    pub fn peers(&self, limit: usize) -> Result<Vec<StoredPeer>, StoreError> {
        self.read(|txn, path| {
            let peers = txn.open_table(PEERS).at(path)?;
            let by_seen = txn.open_table(PEERS_BY_SEEN).at(path)?;
            let mut out = Vec::with_capacity(limit.min(by_seen.len().at(path)? as usize));
            for entry in by_seen.iter().at(path)?.rev().take(limit) {
                let (key, _) = entry.at(path)?;
                let (_, id) = key.value();
                let value = peers.get(id).at(path)?.ok_or_else(|| {
                    StoreError::corrupt(
                        path,
                        format!("peer index names {}, which is absent", hex::encode(id)),
                    )
                })?;
                let value = encoding::decode::<PeerValue>(value.value())
                    .map_err(|reason| damaged(path, "peer", id, reason))?;
                out.push(value.into_peer(id.to_vec()));
            }
            Ok(out)
        })
    }

    /// How many peers are stored.
    pub fn peer_count(&self) -> Result<u64, StoreError> {
        self.read(|txn, path| txn.open_table(PEERS).at(path)?.len().at(path))
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::open_temp;
    use crate::types::StoredPeer;

    fn peer(id: u8, seen: u64) -> StoredPeer {
        StoredPeer {
            peer_id: vec![id; 38],
            addresses: vec![format!("/ip4/10.0.0.{id}/tcp/7701")],
            last_seen_unix_ms: seen,
        }
    }

    #[test]
    fn over_the_budget_the_least_recently_seen_peers_go() {
        use crate::budget::StoreBudget;
        use crate::config::StoreConfig;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let config = StoreConfig::new().with_budget(StoreBudget::new().with_peers(1_000_000, 3));
        let store = crate::Store::open_with(&path, config).unwrap();
        for (id, seen) in [(1, 100), (2, 400), (3, 200)] {
            store.upsert_peer(&peer(id, seen)).unwrap();
        }
        // Peer 1 seen again: now the most recent.
        store.upsert_peer(&peer(1, 500)).unwrap();
        store.upsert_peer(&peer(4, 300)).unwrap();
        let ids = |store: &crate::Store| -> Vec<u8> {
            store
                .peers(10)
                .unwrap()
                .iter()
                .map(|p| p.peer_id[0])
                .collect()
        };
        assert_eq!(ids(&store), [1, 2, 4], "3, seen least recently, went");
        drop(store);

        // By bytes: each row is about 70 bytes.
        let config = StoreConfig::new().with_budget(StoreBudget::new().with_peers(150, 100));
        let store = crate::Store::open_with(&path, config).unwrap();
        store.upsert_peer(&peer(5, 600)).unwrap();
        assert_eq!(ids(&store), [5, 1]);
        assert!(store.budget_usage().unwrap().peers <= 150);
        assert!(store.remove_peer(&[1; 38]).unwrap());
        assert!(store.check_budget_usage().unwrap().is_empty());
        assert!(store.check().unwrap().is_clean());
    }

    #[test]
    fn peers_come_back_most_recent_first_and_bounded() {
        let (_dir, store) = open_temp();
        store.upsert_peer(&peer(1, 100)).unwrap();
        store.upsert_peer(&peer(2, 300)).unwrap();
        store.upsert_peer(&peer(3, 200)).unwrap();
        let ids: Vec<u8> = store
            .peers(10)
            .unwrap()
            .iter()
            .map(|p| p.peer_id[0])
            .collect();
        assert_eq!(ids, [2, 3, 1]);
        assert_eq!(store.peers(2).unwrap().len(), 2);

        // Seen again: moves to the front, with its new addresses, and is not duplicated.
        let mut again = peer(1, 400);
        again
            .addresses
            .push("/ip4/10.0.0.1/udp/7701/quic-v1".into());
        store.upsert_peer(&again).unwrap();
        let peers = store.peers(10).unwrap();
        assert_eq!(peers.len(), 3);
        assert_eq!(peers[0], again);
        assert_eq!(store.peer(&again.peer_id).unwrap(), Some(again.clone()));

        assert!(store.remove_peer(&again.peer_id).unwrap());
        assert!(!store.remove_peer(&again.peer_id).unwrap());
        assert_eq!(store.peer_count().unwrap(), 2);
        assert!(store.check().unwrap().is_clean());
    }
}
